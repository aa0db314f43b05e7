import Glibc
import Testing
@testable import GreenIO

extension ResourceUsageTests {
    /// `greenio serve` over long runs of short connections. These checks are exact where the
    /// in-process ones cannot be: nothing but the server runs in the child, so its descriptor count
    /// must come back to the very number it had before the first connection.
    @Suite("Server leaks over long runs", .timeLimit(.minutes(3)))
    struct ServerLeakTests {
        /// Cycles in the warm-up batch, after which allocator pools and caches have grown.
        static let warmUpCycles = 500
        /// Cycles in the measured run, unless `runTime` passes first.
        static let targetCycles = 5_000
        static let runTime: Duration = .seconds(25)
        /// Fewer cycles than this in `runTime` would make the RSS comparison meaningless.
        static let minimumCycles = 1_000
        /// How much the server's resident memory may grow over the measured run.
        static let rssMarginKiB = 4_096

        @Test("connect/echo/close cycles, plain and TLS: the server's RSS stays flat after a warm-up, its descriptors come back to baseline",
              arguments: [false, true])
        func connectEchoCloseCycles(tls: Bool) async throws {
            let server = try startServer(tls ? ["--tls"] : [])
            defer { server.terminate() }
            let label = tls ? "TLS" : "plain"
            try await onHub(limit: .seconds(160)) {
                let port = tls ? try await server.tlsListening().port : try await server.listeningPort()
                let baseline = try server.openDescriptorCount()
                let context = try TLSContext.client(verification: .insecureNoVerification)
                let cycle: @Sendable (Int) async throws -> String? = { index in
                    let connection = try await connectEchoClient(tls: tls, port: port, context: context, timeout: .seconds(10))
                    defer { connection.close() }
                    return try await echoCheck(connection, "cycle \(index)\n", within: .seconds(10))
                }

                let warmUp = try await runCycles(Self.warmUpCycles, within: .seconds(60), cycle)
                #expect(warmUp.failures.isEmpty, "warm-up: \(warmUp.failures.prefix(5))")
                try await server.waitForDescriptorCount(baseline, deadline: .after(.seconds(10)))
                let warmRSS = try #require(residentKiB(pid: server.pid))

                let run = try await runCycles(Self.targetCycles, within: Self.runTime, cycle)
                #expect(run.failures.isEmpty, "\(run.failures.count) failures, first: \(run.failures.prefix(5))")
                #expect(run.completed >= Self.minimumCycles, "only \(run.completed) cycles in \(Self.runTime)")
                let settled = try await server.waitForDescriptorCount(baseline, deadline: .after(.seconds(10)))
                let endRSS = try #require(residentKiB(pid: server.pid))
                #expect(endRSS - warmRSS <= Self.rssMarginKiB,
                        "server RSS grew from \(warmRSS) KiB to \(endRSS) KiB over \(run.completed) cycles")
                reportMeasurement("\(label) cycles: \(run.completed) in \(run.seconds) s after \(Self.warmUpCycles) warm-up; "
                    + "server RSS \(warmRSS) KiB -> \(endRSS) KiB (\(endRSS - warmRSS) KiB); "
                    + "server fds back to baseline \(baseline) in \(settled) s")
            }
        }

        /// What `runCycles` did.
        struct CycleRun {
            var completed = 0
            var failures: [String] = []
            var seconds = 0.0
        }

        /// Runs `cycle(index)` for indices 0, 1, … from four concurrent green threads until `count`
        /// have run or `limit` has passed (no new cycle starts then). Must run in a green thread.
        private func runCycles(_ count: Int, within limit: Duration,
                               _ cycle: @escaping @Sendable (Int) async throws -> String?) async throws -> CycleRun {
            guard let hub = Hub.current else { throw IOError(.notOnHub, "runCycles needs a hub") }
            let start = Deadline.now
            let deadline = Deadline.after(limit)
            // Shared by green threads of one hub, which run one at a time.
            let state = HubTestBox(CycleRun())
            let workers = (0..<4).map { _ in
                hub.spawn {
                    while state.value.completed < count && !deadline.hasPassed {
                        let index = state.value.completed
                        state.value.completed += 1
                        do {
                            if let failure = try await cycle(index) { state.value.failures.append("cycle \(index): \(failure)") }
                        } catch {
                            state.value.failures.append("cycle \(index): \(error)")
                        }
                    }
                }
            }
            for worker in workers { try await worker.value }
            state.value.seconds = seconds(since: start)
            return state.value
        }
    }
}
