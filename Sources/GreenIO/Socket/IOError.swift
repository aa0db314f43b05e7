/// The error thrown by GreenIO's hub, sockets and file objects.
///
/// Each ``IOError/kind`` corresponds to one Python exception class, and ``IOError/message`` keeps
/// Python's text where Python has one ("timed out", "cannot read from timed out object", "I/O
/// operation on closed file."), so ported tests and log searches still work. ``IOError/errno`` is
/// set when the error came from the system.
public struct IOError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What went wrong, as a category a caller can switch on.
    public enum Kind: Equatable, Sendable {
        /// A timeout or deadline expired (Python `TimeoutError`, `socket.timeout`).
        case timedOut
        /// The operation would block and the socket is in non-blocking mode (Python `BlockingIOError`).
        case wouldBlock
        /// The file descriptor was closed by another green thread while this one waited on it,
        /// or it is no longer registered with the hub.
        case closed
        /// Another green thread already waits on this file descriptor in this direction.
        case busy
        /// A system call failed; `errno` says why (Python `OSError` and its subclasses).
        case system
        /// Host name resolution failed (Python `socket.gaierror`); `code` holds the `EAI_*` value.
        case addressResolution
        /// An argument or state was invalid (Python `ValueError`, `TypeError`, `OverflowError`).
        case invalidArgument
        /// The object does not support the operation (Python `io.UnsupportedOperation`).
        case unsupportedOperation
        /// A file object refuses reads after a timeout (CPython's latch).
        case timedOutObject
        /// The call needs a green thread on a hub, and there is none on this thread.
        case notOnHub
        /// A strict line read found no separator within its limit; nothing was consumed
        /// (asyncio's `LimitOverrunError`).
        case lineTooLong
        /// Received bytes are not valid in the text file's encoding (Python `UnicodeDecodeError`).
        case decodingFailed
        /// Text cannot be represented in the text file's encoding (Python `UnicodeEncodeError`).
        case encodingFailed
        /// A TLS protocol error (Python `ssl.SSLError`); the message carries OpenSSL's reason text.
        case tls
        /// The peer closed the connection without a TLS close_notify and ragged EOFs are not
        /// suppressed (Python `ssl.SSLEOFError`, "EOF occurred in violation of protocol").
        case tlsEOF
        /// The peer's certificate did not verify (Python `ssl.SSLCertVerificationError`).
        case certificateVerificationFailed
    }

    /// The category of the error.
    public let kind: Kind
    /// The system error number, when the error came from a system call.
    public let errno: Errno?
    /// The error's text (Python's where Python has one).
    public let message: String
    /// For `addressResolution`, the `EAI_*` code from `getaddrinfo`.
    public let code: Int32?
    /// For partial transfers (a would-block or timeout in the middle of a write), how many bytes of
    /// this call were accepted before the error; nil when unknown.
    public let bytesTransferred: Int?

    /// Makes an error of the given kind.
    public init(_ kind: Kind, _ message: String, errno: Errno? = nil, code: Int32? = nil, bytesTransferred: Int? = nil) {
        self.kind = kind
        self.message = message
        self.errno = errno
        self.code = code
        self.bytesTransferred = bytesTransferred
    }

    /// An error from a failed system call: `[Errno N] strerror text`.
    public static func system(_ errno: Errno) -> IOError {
        if errno == .wouldBlock { return .wouldBlock() }
        if errno == .inProgress || errno == .alreadyInProgress { return IOError(.wouldBlock, errno.message, errno: errno) }
        return IOError(.system, errno.message, errno: errno)
    }

    /// The socket timeout error: Python's `TimeoutError('timed out')`.
    public static func timedOut(_ message: String = "timed out") -> IOError {
        IOError(.timedOut, message)
    }

    /// Python's `BlockingIOError(EAGAIN, 'Resource temporarily unavailable')`.
    public static func wouldBlock(bytesTransferred: Int? = nil) -> IOError {
        IOError(.wouldBlock, Errno.wouldBlock.message, errno: .wouldBlock, bytesTransferred: bytesTransferred)
    }

    /// Whether `error` is an `IOError` of `kind`. Synchronous and out of line: an async function
    /// that asks this in a `catch` keeps the cast's temporaries out of its async frame (which an
    /// idle connection holds for as long as it waits).
    @inline(never)
    static func isKind(_ error: any Error, _ kind: Kind) -> Bool {
        (error as? IOError)?.kind == kind
    }

    /// `error`, or for a timeout a copy saying that `count` bytes of the call were transferred
    /// before it (out of line, as `isKind`).
    @inline(never)
    static func withTransferred(_ error: any Error, _ count: Int) -> any Error {
        guard let ioError = error as? IOError, ioError.kind == .timedOut else { return error }
        return IOError(.timedOut, ioError.message, bytesTransferred: count)
    }

    /// Python's `ValueError(message)`.
    public static func invalidArgument(_ message: String) -> IOError {
        IOError(.invalidArgument, message)
    }

    /// Thrown to a green thread whose file descriptor was closed through the hub while it waited.
    public static let closedWhileWaiting = IOError(
        .closed, "File descriptor was closed by another green thread", errno: .badFileDescriptor)

    /// The message, after "[Errno N] " when there is an error number (as Python prints an
    /// `OSError`): "[Errno 104] Connection reset by peer", "timed out".
    public var description: String {
        if let errno { return "[Errno \(errno.rawValue)] \(message)" }
        if let code { return "[Errno \(code)] \(message)" }
        return message
    }
}
