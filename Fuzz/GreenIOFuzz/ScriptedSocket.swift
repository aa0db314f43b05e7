import GreenIO

/// An in-memory `RawSocket` that serves a fixed byte stream in the pieces a fuzz input dictates,
/// obeying the raw-socket contract the file objects rely on.
///
/// The plan is a list of steps, each taken by one receive:
/// - `.data(n)`: the next `n` bytes of the stream (over several receives if the caller's buffer is
///   smaller);
/// - `.wouldBlock`: one `.wouldBlock(.read)`, in non-blocking mode only (a blocking socket waits
///   instead, so the step is skipped);
/// - `.timeout`: one `IOError.timedOut`, in blocking or timeout mode only (a non-blocking socket
///   never waits, so it cannot time out).
///
/// Once the plan is used up, the rest of the stream is served in one piece, then the stream ends
/// as `ending` says — for ever, as a real socket (and a TLS socket's sticky EOF error) does.
/// Sends are all accepted and recorded.
final class ScriptedSocket: RawSocket, @unchecked Sendable {
    enum Step: Equatable {
        case data(Int)
        case wouldBlock
        case timeout
    }

    enum Ending: CaseIterable {
        /// An orderly end: receives return 0.
        case endOfStream
        /// A TLS stream cut without close_notify: receives throw `.tlsEOF`.
        case tlsEOF
        /// A reset connection: receives throw `ECONNRESET`.
        case reset
    }

    let stream: [UInt8]
    let ending: Ending
    private let plan: [Step]
    private var nextStep = 0
    /// Bytes left in the data step being served.
    private var pending = 0
    /// How many bytes of `stream` have been handed out.
    private(set) var delivered = 0
    /// Everything sent.
    private(set) var sent: [UInt8] = []
    /// How many `.timeout` steps were served (as errors).
    private(set) var timeoutsServed = 0
    /// Called at the start of every receive: a target checks what must hold whenever its reader
    /// waits for input.
    var onReceive: (() -> Void)?

    var timeout: TimeoutMode
    private(set) var isClosed = false
    var fileDescriptor: Int32 { isClosed ? -1 : 1_000_000 }

    init(stream: [UInt8], plan: [Step], ending: Ending, timeout: TimeoutMode) {
        self.stream = stream
        self.plan = plan
        self.ending = ending
        self.timeout = timeout
    }

    /// Decodes a plan: bytes up to 0xDF are data steps of 1…224 bytes, 0xE0…0xEF would-block
    /// steps, 0xF0…0xFF timeouts (dropped unless `timeouts`).
    static func plan(from bytes: [UInt8], timeouts: Bool) -> [Step] {
        bytes.compactMap { byte in
            switch byte {
            case 0...0xDF: .data(Int(byte) + 1)
            case 0xE0...0xEF: .wouldBlock
            default: timeouts ? .timeout : nil
            }
        }
    }

    /// True once every byte was delivered.
    var isExhausted: Bool { delivered == stream.count }

    nonisolated(nonsending)
    func receive(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline?) async throws -> IOOutcome {
        onReceive?()
        while pending == 0 && nextStep < plan.count {
            let step = plan[nextStep]
            nextStep += 1
            switch step {
            case .data(let count):
                pending = min(count, stream.count - delivered)
            case .wouldBlock:
                if timeout == .nonBlocking { return .wouldBlock(.read) }
            case .timeout:
                if timeout != .nonBlocking {
                    timeoutsServed += 1
                    throw IOError.timedOut()
                }
            }
        }
        if pending == 0 { pending = stream.count - delivered }
        if pending == 0 {
            switch ending {
            case .endOfStream: return .completed(0)
            case .tlsEOF: throw IOError(.tlsEOF, "EOF occurred in violation of protocol")
            case .reset: throw IOError.system(.connectionReset)
            }
        }
        // An empty buffer consumes nothing (the contract's "completed(0) for an empty buffer").
        let count = min(pending, buffer.count)
        stream.withUnsafeBytes { source in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[delivered..<(delivered + count)]))
        }
        delivered += count
        pending -= count
        return .completed(count)
    }

    nonisolated(nonsending)
    func send(_ bytes: UnsafeRawBufferPointer, deadline: Deadline?) async throws -> IOOutcome {
        sent += bytes
        return .completed(bytes.count)
    }

    func setTimeout(_ mode: TimeoutMode) throws { timeout = mode }
    func shutdown(_ direction: ShutdownDirection) throws {}
    func close() { isClosed = true }
    func retainFileReference() {}
    func releaseFileReference() {}
}

extension ScriptedSocket.Ending {
    /// True for an error thrown by this socket when its stream ended that way.
    static func isEnd(_ error: any Error) -> Bool {
        guard let error = error as? IOError else { return false }
        return error.kind == .tlsEOF || (error.kind == .system && error.errno == .connectionReset)
    }
}
