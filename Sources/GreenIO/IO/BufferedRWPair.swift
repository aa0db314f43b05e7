/// CPython's `io.BufferedRWPair`: a buffered reader (``BufferedRWPair/reader``) and a buffered
/// writer (``BufferedRWPair/writer``) over one raw ``SocketIO``, as `makefile("rwb")` and
/// ``RawSocket/makeReadWritePair(bufferSize:)`` return. Reading and writing are independent (one
/// green thread may read while another writes). It has no name and no descriptor, as in CPython.
public final class BufferedRWPair: @unchecked Sendable {
    /// The read side.
    public let reader: BufferedReader
    /// The write side.
    public let writer: BufferedWriter

    /// Makes a pair over `raw`, which must be open for reading and writing.
    /// - Throws: as `BufferedReader.init` and `BufferedWriter.init`.
    public init(_ raw: SocketIO, bufferSize: Int = 8192) throws {
        reader = try BufferedReader(raw, bufferSize: bufferSize)
        writer = try BufferedWriter(raw, bufferSize: bufferSize)
    }

    /// True once `close()` was called.
    public var isClosed: Bool { writer.isClosed }

    /// "rwb", from the raw object.
    public var mode: String { reader.mode }

    /// Always false: sockets cannot seek.
    public func seekable() -> Bool { false }

    /// Always fails, as CPython's `BufferedRWPair.fileno()`.
    /// - Throws: `IOError` `.unsupportedOperation` "fileno".
    public func fileno() throws -> Int32 { throw IOError(.unsupportedOperation, "fileno") }

    /// See `BufferedReader.read(_:deadline:)`.
    public func read(_ count: Int = -1, deadline: Deadline? = nil) async throws -> [UInt8]? {
        try await reader.read(count, deadline: deadline)
    }

    /// See `BufferedReader.read1(_:deadline:)`.
    public func read1(_ count: Int = -1, deadline: Deadline? = nil) async throws -> [UInt8]? {
        try await reader.read1(count, deadline: deadline)
    }

    /// See `BufferedReader.peek(_:deadline:)`.
    public func peek(_ count: Int = 0, deadline: Deadline? = nil) async throws -> [UInt8]? {
        try await reader.peek(count, deadline: deadline)
    }

    /// See `BufferedReader.readInto(_:deadline:)`.
    public func readInto(_ destination: UnsafeMutableRawBufferPointer, deadline: Deadline? = nil) async throws -> Int? {
        try await reader.readInto(destination, deadline: deadline)
    }

    /// See `BufferedReader.readLine(limit:deadline:)`.
    public func readLine(limit: Int = -1, deadline: Deadline? = nil) async throws -> [UInt8]? {
        try await reader.readLine(limit: limit, deadline: deadline)
    }

    /// See `BufferedReader.readLine(maxLength:deadline:)`.
    public func readLine(maxLength: Int, deadline: Deadline? = nil) async throws -> [UInt8]? {
        try await reader.readLine(maxLength: maxLength, deadline: deadline)
    }

    /// See `BufferedReader.read(until:limit:strict:deadline:)`.
    public func read(until separator: [UInt8], limit: Int = -1, strict: Bool = false,
                     deadline: Deadline? = nil) async throws -> [UInt8]? {
        try await reader.read(until: separator, limit: limit, strict: strict, deadline: deadline)
    }

    /// See `BufferedReader.readLines(hint:deadline:)`.
    public func readLines(hint: Int = -1, deadline: Deadline? = nil) async throws -> [[UInt8]]? {
        try await reader.readLines(hint: hint, deadline: deadline)
    }

    /// See `BufferedReader.lines`.
    public var lines: BufferedReader.Lines { reader.lines }

    /// See `BufferedWriter.write(_:deadline:)`.
    @discardableResult
    public func write(_ bytes: [UInt8], deadline: Deadline? = nil) async throws -> Int {
        try await writer.write(bytes, deadline: deadline)
    }

    /// See `BufferedWriter.flush(deadline:)`.
    public func flush(deadline: Deadline? = nil) async throws {
        try await writer.flush(deadline: deadline)
    }

    /// See `BufferedWriter.writeAndFlush(_:deadline:)`.
    public func writeAndFlush(_ bytes: [UInt8], deadline: Deadline? = nil) async throws {
        try await writer.writeAndFlush(bytes, deadline: deadline)
    }

    /// Flushes and closes the writer, then closes the reader (the reader is closed even if the
    /// flush fails; its error is thrown). Idempotent.
    public func close() async throws {
        defer { reader.close() }
        try await writer.close()
    }
}
