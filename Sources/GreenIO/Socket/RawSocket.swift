/// The outcome of one raw receive or send.
public enum IOOutcome: Equatable, Sendable {
    /// The operation transferred this many bytes. For a receive, 0 means the peer's orderly end
    /// of stream (when the buffer was not empty).
    case completed(Int)
    /// Non-blocking mode only: the operation cannot proceed until the descriptor is ready in the
    /// given direction. A TLS read may need `.write` and a TLS write may need `.read`.
    case wouldBlock(Interest)
}

/// How to shut down a connection (the C constants `SHUT_RD`, `SHUT_WR`, `SHUT_RDWR`).
public enum ShutdownDirection: Sendable {
    /// No more receiving (`SHUT_RD`).
    case read
    /// No more sending (`SHUT_WR`): the peer sees the end of the stream once what was sent arrives.
    case write
    /// Both directions (`SHUT_RDWR`).
    case both
}

/// The pluggable contract between a byte-stream socket and the file objects above it.
///
/// ``SocketIO``, the buffered readers and writers (``BufferedReader``, ``BufferedWriter``) and
/// ``RawSocket/makefile(_:buffering:encoding:errors:newline:)`` use only this protocol, so they work
/// unchanged over plain sockets (``Socket``), TLS sockets (``TLSSocket``) and user types. A
/// conforming type promises:
///
/// - ``RawSocket/receive(into:deadline:)`` and ``RawSocket/send(_:deadline:)`` obey
///   ``RawSocket/timeout``: in ``TimeoutMode/nonBlocking`` mode they never wait and report
///   ``IOOutcome/wouldBlock(_:)`` with the direction to wait for (whatever produced it — `EAGAIN`,
///   TLS want-read or want-write); in ``TimeoutMode/blocking`` and ``TimeoutMode/timeout(_:)``
///   modes they wait on the hub (never returning `.wouldBlock`) and throw ``IOError``
///   ``IOError/Kind/timedOut`` when the timeout or `deadline` passes, whichever comes first.
///   Each call is one raw operation with one deadline.
/// - Errors are thrown as ``IOError`` (or `CancellationError` if the green thread is cancelled).
/// - ``RawSocket/close()`` is idempotent and, while file objects made from the socket are open,
///   only marks the socket closed: the connection stays open until the last file reference is
///   released (Python's `_io_refs` rule). The file objects count their references with
///   ``RawSocket/retainFileReference()`` and ``RawSocket/releaseFileReference()``.
public protocol RawSocket: AnyObject, Sendable {
    /// The descriptor, or -1 once the socket is really closed or detached.
    var fileDescriptor: Int32 { get }

    /// The socket's timeout mode, read at each operation.
    var timeout: TimeoutMode { get }

    /// True once `close()` has been called on the socket itself (file objects may keep the
    /// connection open after that).
    var isClosed: Bool { get }

    /// Receives at most `buffer.count` bytes into `buffer`.
    ///
    /// An empty buffer consumes nothing but still waits, like any receive, until the socket is
    /// readable (data or end of stream), so timeouts fire (EVT-08; CPython returns at once).
    ///
    /// - Parameters:
    ///   - buffer: where the bytes go.
    ///   - deadline: an absolute limit on top of the socket's timeout (nil for none).
    /// - Returns: `.completed(n)` (0 = end of stream, or an empty buffer) or, in non-blocking mode,
    ///   `.wouldBlock(direction)`.
    /// - Throws: `IOError`: `.timedOut`, `.system` (`EBADF` once closed, `ECONNRESET`, …),
    ///   `.closed` if closed through the hub while waiting; `CancellationError`.
    func receive(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline?) async throws -> IOOutcome

    /// Sends some prefix of `bytes` (possibly all of it).
    ///
    /// - Returns: `.completed(n)` with the number of bytes accepted, or in non-blocking mode
    ///   `.wouldBlock(direction)`, which accepted none of them: a retry may offer any bytes.
    /// - Throws: as `receive`, with `EPIPE` for a peer that has gone.
    func send(_ bytes: UnsafeRawBufferPointer, deadline: Deadline?) async throws -> IOOutcome

    /// Parks the calling green thread until a `receive` would make progress — bytes, the end of the
    /// stream or an error are waiting — or the timeout or `deadline` passes. Returns at once in
    /// non-blocking mode, and may return early (callers then receive as usual). It lets a reader
    /// hold no buffer while its connection is idle.
    /// - Throws: `IOError` `.timedOut`, `.closed`; `CancellationError`.
    func waitUntilReadable(deadline: Deadline?) async throws

    /// Shuts down one or both directions of the connection.
    /// - Throws: `IOError` `.system` (`ENOTCONN`, `EBADF` once closed).
    func shutdown(_ direction: ShutdownDirection) throws

    /// Closes the socket. Idempotent; wakes green threads waiting on it first. The descriptor
    /// itself closes once no file object holds a reference.
    func close()

    /// Records one more file object made from this socket (`makefile`). The file objects call it;
    /// a socket type implements it, and application code does not call it.
    func retainFileReference()

    /// Releases a file object's reference; really closes the socket if it was closed and this was
    /// the last reference. The file objects call it when they close; application code does not.
    func releaseFileReference()
}

extension RawSocket {
    /// The default for types that cannot wait without a buffer: return at once (the following
    /// `receive` waits as usual).
    public func waitUntilReadable(deadline: Deadline?) async throws {}
}
