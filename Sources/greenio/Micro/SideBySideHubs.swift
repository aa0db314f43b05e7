import Dispatch
import GreenIO
import Synchronization

/// The `--hubs N` of the micro-benchmarks: the same measurement on N hub threads at once, summed,
/// to show what the hubs of one process cost each other.
enum SideBySideHubs {
    /// Runs `measure` as the first green thread of `hubs` new hubs, each on a thread of its own,
    /// all at once; returns the sum of their results.
    /// - Throws: the first hub's error, or the error of starting a thread.
    static func sum(hubs: Int, _ measure: @escaping @Sendable () async throws -> Double) throws -> Double {
        let results = Results()
        let done = DispatchSemaphore(value: 0)
        for index in 0..<hubs {
            try Hub.startThread(name: "bench-hub-\(index)", running: { @Sendable in
                results.add(.success(try await measure()))
            }, completion: { outcome in
                if case .failure(let error) = outcome { results.add(.failure(error)) }
                done.signal()
            })
        }
        for _ in 0..<hubs { done.wait() }
        return try results.sum()
    }

    /// The hubs' results, from their threads.
    private final class Results: Sendable {
        private let results = Mutex<[Result<Double, any Error>]>([])
        func add(_ result: Result<Double, any Error>) { results.withLock { $0.append(result) } }
        /// The sum of the results, or the first error.
        func sum() throws -> Double { try results.withLock { $0 }.reduce(0) { $0 + (try $1.get()) } }
    }
}
