/// What the text layer (`TextIOWrapper`) needs from a buffered binary reader: CPython's
/// `BufferedIOBase` read side, reduced to the calls a decoder makes.
///
/// Results follow GreenIO's rule at every entry point: nil means "would block" (non-blocking mode
/// only), an empty array means the end of the stream. Blocking and timeout modes never return nil.
public protocol BinaryReading: AnyObject, Sendable {
    /// Returns at most `count` bytes (`count < 0`: whatever is at hand), serving buffered bytes
    /// first and making at most one raw read when nothing is buffered (CPython's `read1`).
    /// - Returns: the bytes; empty at the end of the stream (or when `count == 0`); nil if the
    ///   socket is non-blocking and nothing can be read now.
    /// - Throws: `IOError` (`.timedOut`, `.timedOutObject`, `.invalidArgument` "read of closed
    ///   file", socket errors); `CancellationError`. Nothing already received is lost.
    func read1(_ count: Int, deadline: Deadline?) async throws -> [UInt8]?

    /// Closes the reader (and, through it, its reference on the socket). Idempotent.
    func close()

    /// True once `close()` was called.
    var isClosed: Bool { get }

    /// The socket's descriptor while open, -1 once closed (CPython's `name`); -1 by default.
    var name: Int32 { get }
}

/// What the text layer needs from a buffered binary writer: CPython's `BufferedIOBase` write side.
public protocol BinaryWriting: AnyObject, Sendable {
    /// Accepts `bytes` (buffering them, or sending them through when large) and returns the count,
    /// which is always `bytes.count` unless an error is thrown.
    /// - Throws: `IOError` `.wouldBlock` in non-blocking mode when not all of `bytes` could be
    ///   accepted, with `bytesTransferred` = how many bytes of this call were accepted (CPython's
    ///   `characters_written`); `.timedOut`; `.invalidArgument` "write to closed file"; socket
    ///   errors; `CancellationError`.
    func write(_ bytes: [UInt8], deadline: Deadline?) async throws -> Int

    /// Sends every buffered byte.
    /// - Throws: as `write` (`.wouldBlock` with `bytesTransferred` 0; unsent bytes stay buffered).
    func flush(deadline: Deadline?) async throws

    /// Flushes, then closes the writer. The writer ends closed even if the flush fails (then the
    /// unsent bytes are dropped and the flush error is thrown), as in CPython. Idempotent.
    func close() async throws

    /// True once `close()` was called.
    var isClosed: Bool { get }

    /// The socket's descriptor while open, -1 once closed (CPython's `name`); -1 by default.
    var name: Int32 { get }
}

extension BinaryReading {
    public var name: Int32 { -1 }
}

extension BinaryWriting {
    public var name: Int32 { -1 }
}
