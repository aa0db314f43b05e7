import Glibc
import Testing
@testable import GreenIO

// Helpers shared by the buffered-layer and makefile conformance suites (Buffered*Tests, MakeFile*Tests).

/// An in-memory `RawSocket` that plays a script of receive results and records what is sent
/// (CPython test_io's `MockRawIO` / `MockNonBlockWriterIO`).
///
/// Reads: each raw receive takes the next step of `script`; a data step larger than the caller's
/// buffer delivers what fits and keeps the rest for the next receive. Once the script is used up,
/// receives report the end of the stream (or, with `blockWhenExhausted`, would-block).
/// Writes: at most `sendLimit` bytes per send; with `blocker` set, a send stops before that byte
/// and, when the byte comes first, reports would-block once and forgets the blocker (CPython's
/// `block_on`).
final class MockRaw: RawSocket, @unchecked Sendable {
    enum Step: Equatable {
        case data([UInt8])
        case wouldBlock
        case timeout
    }

    var script: [Step]
    var blockWhenExhausted = false
    var timeout: TimeoutMode
    var fileDescriptor: Int32 = 4242
    var isClosed = false
    var fileReferences = 0
    /// Number of raw receives so far.
    var readCalls = 0
    /// The buffer size of each raw receive.
    var readSizes: [Int] = []
    /// Everything sent, in order.
    var written: [UInt8] = []
    /// Number of raw sends so far.
    var writeCalls = 0
    /// The address each raw send was given, in order (to tell a send from the caller's memory
    /// from one out of the writer's buffer).
    var sendAddresses: [UnsafeRawPointer?] = []
    var sendLimit = Int.max
    var blocker: UInt8?

    init(_ script: [Step] = [], timeout: TimeoutMode = .blocking) {
        self.script = script
        self.timeout = timeout
    }

    /// A script of data steps, one per string.
    convenience init(chunks: String..., timeout: TimeoutMode = .blocking) {
        self.init(chunks.map { .data(bytes($0)) }, timeout: timeout)
    }

    /// Returns and forgets what was sent so far (CPython's `pop_written`).
    func popWritten() -> [UInt8] {
        defer { written = [] }
        return written
    }

    nonisolated(nonsending)
    func receive(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline?) async throws -> IOOutcome {
        readCalls += 1
        readSizes.append(buffer.count)
        guard !script.isEmpty else { return blockWhenExhausted ? .wouldBlock(.read) : .completed(0) }
        switch script.removeFirst() {
        case .wouldBlock:
            return .wouldBlock(.read)
        case .timeout:
            throw IOError.timedOut()
        case .data(let data):
            let n = Swift.min(data.count, buffer.count)
            buffer.copyBytes(from: data[0..<n])
            if n < data.count { script.insert(.data(Array(data[n...])), at: 0) }
            return .completed(n)
        }
    }

    nonisolated(nonsending)
    func send(_ bytes: UnsafeRawBufferPointer, deadline: Deadline?) async throws -> IOOutcome {
        writeCalls += 1
        sendAddresses.append(bytes.baseAddress)
        var n = Swift.min(bytes.count, sendLimit)
        if let blocker, let index = bytes[0..<n].firstIndex(of: blocker) {
            if index == 0 {
                self.blocker = nil
                return .wouldBlock(.write)
            }
            n = index
        }
        written += bytes[0..<n]
        return .completed(n)
    }

    func shutdown(_ direction: ShutdownDirection) throws {}
    func close() { isClosed = true }
    func retainFileReference() { fileReferences += 1 }
    func releaseFileReference() { fileReferences -= 1 }
}

/// A `RawSocket` over a real socket whose sends accept at most `cap` bytes each (EVT-10: partial
/// writes). Receives and everything else go to the socket.
final class CappedSendSocket: RawSocket, @unchecked Sendable {
    let inner: Socket
    let cap: Int
    var sendCalls = 0
    var largestSend = 0

    init(_ inner: Socket, cap: Int) {
        self.inner = inner
        self.cap = cap
    }

    var fileDescriptor: Int32 { inner.fileDescriptor }
    var timeout: TimeoutMode { inner.timeout }
    var isClosed: Bool { inner.isClosed }

    nonisolated(nonsending)
    func receive(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline?) async throws -> IOOutcome {
        try await inner.receive(into: buffer, deadline: deadline)
    }

    nonisolated(nonsending)
    func send(_ bytes: UnsafeRawBufferPointer, deadline: Deadline?) async throws -> IOOutcome {
        sendCalls += 1
        let outcome = try await inner.send(UnsafeRawBufferPointer(rebasing: bytes[0..<Swift.min(bytes.count, cap)]),
                                           deadline: deadline)
        if case .completed(let n) = outcome { largestSend = Swift.max(largestSend, n) }
        return outcome
    }

    func shutdown(_ direction: ShutdownDirection) throws { try inner.shutdown(direction) }
    func close() { inner.close() }
    func retainFileReference() { inner.retainFileReference() }
    func releaseFileReference() { inner.releaseFileReference() }
}

/// A scratch buffer of `count` bytes for `readInto` calls; deallocate it.
func scratch(_ count: Int) -> UnsafeMutableRawBufferPointer {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 1)
    buffer.initializeMemory(as: UInt8.self, repeating: 0)
    return buffer
}

/// What a non-blocking look at `peer` shows right now: the bytes waiting (empty at the end of the
/// stream), or nil when nothing is there and the stream is still open.
func pendingBytes(_ peer: Socket) async throws -> [UInt8]? {
    let saved = peer.timeout
    try peer.setTimeout(.nonBlocking)
    defer { try? peer.setTimeout(saved) }
    do {
        return try await peer.recv(1 << 20)
    } catch let error as IOError where error.kind == .wouldBlock {
        return nil
    }
}

/// Everything `peer` receives until the end of the stream, waiting at most `limit` seconds for it:
/// a descriptor closed here may stay open a moment longer in a child process that a test running in
/// parallel is spawning, so the end of the stream is awaited, not merely looked for.
func receiveUntilEOF(_ peer: Socket, limit: Double = 10) async throws -> [UInt8] {
    let saved = peer.timeout
    try peer.setTimeout(seconds: limit)
    defer { try? peer.setTimeout(saved) }
    return try await readToEnd(peer)
}

/// Receives from `peer` until `count` bytes have come (or the stream ended).
func receive(_ count: Int, from peer: Socket) async throws -> [UInt8] {
    var got: [UInt8] = []
    while got.count < count {
        let chunk = try await peer.recv(count - got.count)
        if chunk.isEmpty { break }
        got += chunk
    }
    return got
}

/// The byte at `offset` of the endless test pattern used to check large transfers.
@inline(__always) func patternByte(_ offset: Int) -> UInt8 { UInt8(truncatingIfNeeded: offset % 251) }

private let patternCycle: [UInt8] = (0..<251).map(patternByte)

/// `count` bytes of the test pattern starting at `offset`.
func pattern(from offset: Int, count: Int) -> [UInt8] {
    var result: [UInt8] = []
    result.reserveCapacity(count)
    var start = offset % 251
    while result.count < count {
        let n = Swift.min(251 - start, count - result.count)
        result.append(contentsOf: patternCycle[start..<(start + n)])
        start = 0
    }
    return result
}
