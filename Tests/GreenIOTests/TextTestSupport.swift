import Testing
@testable import GreenIO

// Test doubles and helpers for the text layer suites (Text*Tests).

/// One scripted result of `ScriptedReader.read1`.
enum ReadStep {
    /// These bytes (split if the caller asks for fewer).
    case bytes([UInt8])
    /// nil: the socket would block.
    case wouldBlock
    /// This error is thrown.
    case failure(any Error)
}

/// What `ScriptedReader` does once its script is used up.
enum ScriptEnd {
    /// Returns `[]` (end of stream) from then on.
    case endOfStream
    /// Throws `IOError.timedOut()` from then on (a socket with a timeout that gets no more data).
    case timeout
    /// Returns nil (a non-blocking socket that gets no more data).
    case wouldBlock
}

/// A `BinaryReading` that returns scripted chunks; more steps can be added while it is in use.
final class ScriptedReader: BinaryReading, @unchecked Sendable {
    private var steps: [ReadStep]
    private var next = 0
    /// The rest of a chunk that was split because the caller asked for fewer bytes.
    private var carry: [UInt8] = []
    var end: ScriptEnd
    private(set) var isClosed = false
    /// How many times `read1` was called.
    private(set) var readCalls = 0

    init(_ steps: [ReadStep], end: ScriptEnd = .endOfStream) {
        self.steps = steps
        self.end = end
    }

    /// A reader that returns each chunk in turn, then `end`.
    convenience init(chunks: [[UInt8]], end: ScriptEnd = .endOfStream) {
        self.init(chunks.map { .bytes($0) }, end: end)
    }

    /// Adds steps after the current script.
    func append(_ more: [ReadStep]) { steps += more }

    /// Adds chunks after the current script.
    func append(chunks: [[UInt8]]) { append(chunks.map { .bytes($0) }) }

    func read1(_ count: Int, deadline: Deadline?) async throws -> [UInt8]? {
        readCalls += 1
        if isClosed { throw IOError.invalidArgument("read of closed file") }
        if !carry.isEmpty { return serve(carry, count) }
        guard next < steps.count else {
            switch end {
            case .endOfStream: return []
            case .timeout: throw IOError.timedOut()
            case .wouldBlock: return nil
            }
        }
        let step = steps[next]
        next += 1
        switch step {
        case .bytes(let bytes): return serve(bytes, count)
        case .wouldBlock: return nil
        case .failure(let error): throw error
        }
    }

    private func serve(_ bytes: [UInt8], _ count: Int) -> [UInt8] {
        guard count >= 0, bytes.count > count else {
            carry = []
            return bytes
        }
        carry = Array(bytes[count...])
        return Array(bytes[..<count])
    }

    func close() { isClosed = true }
}

/// A `BinaryReading` that hands out one byte per call from `data`, then the end of the stream
/// (for long inputs, without a script of a million steps).
final class DripReader: BinaryReading, @unchecked Sendable {
    private let data: [UInt8]
    private var offset = 0
    private(set) var isClosed = false

    init(_ data: [UInt8]) { self.data = data }

    func read1(_ count: Int, deadline: Deadline?) async throws -> [UInt8]? {
        guard offset < data.count else { return [] }
        offset += 1
        return [data[offset - 1]]
    }

    func close() { isClosed = true }
}

/// A `BinaryWriting` that records what it is given. `room` limits how many more bytes it takes
/// before it reports would-block (nil: unlimited); `flush` moves taken bytes to `sent`.
final class RecordingWriter: BinaryWriting, @unchecked Sendable {
    /// Bytes taken and not flushed yet (the buffered writer's buffer).
    private(set) var buffered: [UInt8] = []
    /// Bytes flushed (what the peer would have received).
    private(set) var sent: [UInt8] = []
    var room: Int?
    private(set) var isClosed = false
    /// How many times `write` was called.
    private(set) var writeCalls = 0

    init(room: Int? = nil) { self.room = room }

    func write(_ bytes: [UInt8], deadline: Deadline?) async throws -> Int {
        writeCalls += 1
        if isClosed { throw IOError.invalidArgument("write to closed file") }
        if let room, room < bytes.count {
            buffered += bytes[..<room]
            self.room = 0
            throw IOError.wouldBlock(bytesTransferred: room)
        }
        if let room { self.room = room - bytes.count }
        buffered += bytes
        return bytes.count
    }

    func flush(deadline: Deadline?) async throws {
        if isClosed { throw IOError.invalidArgument("flush of closed file") }
        sent += buffered
        buffered = []
    }

    func close() async throws {
        guard !isClosed else { return }
        defer { isClosed = true }
        try await flush(deadline: nil)
    }
}

/// A read-only text wrapper over a scripted reader of `chunks`.
func textReader(_ chunks: [[UInt8]], end: ScriptEnd = .endOfStream, encoding: TextEncoding = .utf8,
                errors: CodecErrorPolicy = .strict, newline: NewlineMode = .universal) -> TextIOWrapper {
    TextIOWrapper(reader: ScriptedReader(chunks: chunks, end: end), writer: nil, encoding: encoding,
                  errors: errors, newline: newline, mode: "r")
}

/// Reads lines with `readLine()` until the end of the stream.
func allLines(_ file: TextIOWrapper) async throws -> [String] {
    var lines: [String] = []
    while let line = try await file.readLine(), !line.isEmpty { lines.append(line) }
    return lines
}

/// The scalars of a string, to compare by code points rather than grapheme clusters.
func scalars(_ text: String) -> [Unicode.Scalar] { Array(text.unicodeScalars) }

/// Evaluates `body` and returns the `IOError` it throws (failing the test if it throws none).
func ioError<T>(_ body: () async throws -> T) async -> IOError? {
    do {
        _ = try await body()
        Issue.record("expected an IOError")
        return nil
    } catch let error as IOError {
        return error
    } catch {
        Issue.record("expected an IOError, got \(error)")
        return nil
    }
}
