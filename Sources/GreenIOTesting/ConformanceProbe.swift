import Synchronization
import GreenIO

/// A check's failure that ends it (thrown by the probe's helpers).
struct CheckFailure: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// What one check works with: the transport's pairs and traits, the failures recorded so far,
/// and the I/O helpers every check shares (each with a deadline, so a broken transport cannot
/// hang a check).
final class ConformanceProbe: Sendable {
    let traits: RawSocketConformance.Traits
    let seed: UInt64
    private let makePair: RawSocketConformance.PairMaker
    private let state = Mutex<(failures: [String], sockets: [any ConfigurableRawSocket])>(([], []))

    /// How long an operation that should succeed may take.
    static let patience: Duration = .seconds(5)
    /// The timeout or deadline of operations that must time out.
    static let short: Duration = .milliseconds(200)
    /// The least and the most time such an operation may take to time out.
    static let shortAtLeast: Duration = .milliseconds(150)
    static let shortAtMost: Duration = .milliseconds(2500)
    /// What an operation that must return at once may take (the machine may be busy).
    static let atOnce: Duration = .milliseconds(500)
    /// The size of a filling send and of the buffer of most receives.
    static let chunk = 65_536

    init(traits: RawSocketConformance.Traits, seed: UInt64, makePair: @escaping RawSocketConformance.PairMaker) {
        self.traits = traits
        self.seed = seed
        self.makePair = makePair
    }

    var failures: [String] { state.withLock { $0.failures } }

    func fail(_ message: String) {
        state.withLock { $0.failures.append(message) }
    }

    /// Records `message` unless `condition` holds.
    func expect(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fail(message()) }
    }

    /// A fresh pair from the transport, both in `mode`; closed when the check ends.
    func pair(_ mode: TimeoutMode) async throws -> (any ConfigurableRawSocket, any ConfigurableRawSocket) {
        let (first, second) = try await makePair()
        state.withLock { $0.sockets += [first, second] }
        try first.setTimeout(mode)
        try second.setTimeout(mode)
        return (first, second)
    }

    /// Closes every socket the check made.
    func closeAll() {
        let sockets = state.withLock { state in
            defer { state.sockets = [] }
            return state.sockets
        }
        for socket in sockets { socket.close() }
    }

    // MARK: I/O

    /// What one receive gave.
    enum Received: Equatable {
        case bytes([UInt8])
        case end
        case wouldBlock(Interest)
    }

    /// One receive into a buffer of `count` bytes.
    func receive(_ socket: any RawSocket, _ count: Int = chunk, deadline: Deadline?) async throws -> Received {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 1)
        defer { buffer.deallocate() }
        switch try await socket.receive(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]), deadline: deadline) {
        case .wouldBlock(let interest):
            return .wouldBlock(interest)
        case .completed(let n):
            guard n >= 0 && n <= count else { throw CheckFailure("a receive into \(count) bytes reported \(n)") }
            return n == 0 && count > 0 ? .end : .bytes(Array(buffer[0..<n]))
        }
    }

    /// One send of `bytes`.
    func send(_ socket: any RawSocket, _ bytes: ArraySlice<UInt8>, deadline: Deadline?) async throws -> IOOutcome {
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
        defer { copy.deallocate() }
        copy.copyBytes(from: bytes)
        let outcome = try await socket.send(UnsafeRawBufferPointer(rebasing: copy[0..<bytes.count]), deadline: deadline)
        if case .completed(let n) = outcome, n < 0 || n > bytes.count {
            throw CheckFailure("a send of \(bytes.count) bytes reported \(n)")
        }
        return outcome
    }

    /// Sends all of `bytes` in blocking or timeout mode, each send within `patience`.
    func sendAll(_ socket: any RawSocket, _ bytes: [UInt8]) async throws {
        var sent = 0
        while sent < bytes.count {
            switch try await send(socket, bytes[sent...], deadline: .after(Self.patience)) {
            case .completed(let n):
                if n == 0 { throw CheckFailure("a send of \(bytes.count - sent) bytes took none") }
                sent += n
            case .wouldBlock(let interest):
                throw CheckFailure("a send in \(socket.timeout) mode reported would-block (\(interest))")
            }
        }
    }

    /// Receives until `count` bytes came (each receive within `patience`); fails at the end of
    /// the stream or on would-block.
    func receiveExactly(_ socket: any RawSocket, _ count: Int) async throws -> [UInt8] {
        var got: [UInt8] = []
        while got.count < count {
            let received: Received
            do {
                received = try await receive(socket, deadline: .after(Self.patience))
            } catch let error as IOError where error.kind == .timedOut {
                throw CheckFailure("received \(got.count) of \(count) bytes, then nothing for \(Self.patience)")
            }
            switch received {
            case .bytes(let bytes): got += bytes
            case .end: throw CheckFailure("the stream ended after \(got.count) of \(count) bytes")
            case .wouldBlock(let interest):
                throw CheckFailure("a receive in \(socket.timeout) mode reported would-block (\(interest))")
            }
        }
        return got
    }

    /// Expects the end of the stream next (within `patience`).
    func expectEnd(_ socket: any RawSocket, _ what: String) async throws {
        let received = try await receive(socket, deadline: .after(Self.patience))
        expect(received == .end, "\(what): expected the end of the stream, got \(received)")
    }

    /// Non-blocking sends of `chunk`-byte pieces of `pattern` into a peer that does not read,
    /// until one would block. The socket is left in non-blocking mode.
    /// - Returns: how many bytes the sends took, and the would-block's direction.
    func fill(_ socket: any ConfigurableRawSocket) async throws -> (taken: Int, direction: Interest) {
        try socket.setTimeout(.nonBlocking)
        let block = Self.pattern(Self.chunk, seed: seed)
        var taken = 0
        while true {
            switch try await send(socket, block[...], deadline: nil) {
            case .completed(let n):
                if n == 0 { throw CheckFailure("a non-blocking send of \(block.count) bytes took none without would-block") }
                taken += n
                if taken > traits.fillLimit {
                    throw CheckFailure("non-blocking sends took \(taken) bytes without would-block (Traits.fillLimit)")
                }
            case .wouldBlock(let direction):
                return (taken, direction)
            }
        }
    }

    /// Spawns a watchdog that closes `sockets` unless `done` is set within `limit`, so a blocking
    /// operation without a deadline cannot hang the check. Cancel the returned task when done.
    func watchdog(_ sockets: [any RawSocket], limit: Duration = patience) -> Task<Void, any Error>? {
        Hub.current?.spawn {
            try await Hub.sleep(for: limit)
            for socket in sockets { socket.close() }
        }
    }

    /// `count` bytes of a seeded pseudo-random pattern.
    static func pattern(_ count: Int, seed: UInt64) -> [UInt8] {
        var generator = SeededGenerator(seed: seed)
        var result: [UInt8] = []
        result.reserveCapacity(count)
        while result.count < count {
            var word = generator.next()
            for _ in 0..<min(8, count - result.count) {
                result.append(UInt8(truncatingIfNeeded: word))
                word >>= 8
            }
        }
        return result
    }
}
