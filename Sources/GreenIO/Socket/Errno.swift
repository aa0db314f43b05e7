import Glibc

/// A POSIX error number, as a typed value.
///
/// `Errno` wraps the C `errno` values so that they can be compared and printed without
/// confusing them with other integer codes (OpenSSL's `SSL_ERROR_*` numbers overlap with errnos).
/// It is an `Error` so that a system call's failure can be carried as `Result<_, Errno>` (GreenIO's
/// own calls turn it into an `IOError` before it reaches the caller).
public struct Errno: RawRepresentable, Hashable, Sendable, CustomStringConvertible, Error {
    /// The C value of the error number.
    public let rawValue: Int32

    /// Wraps a C error number.
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The error number of the calling thread's last failed C call (the C `errno`).
    public static var current: Errno { Errno(rawValue: errno) }

    /// The system's message for this error, as `strerror` gives it ("Connection refused").
    public var message: String { String(cString: strerror(rawValue)) }

    /// "[Errno N] strerror text", as Python prints an `OSError`.
    public var description: String { "[Errno \(rawValue)] \(message)" }

    /// `EINTR`.
    public static let interrupted = Errno(rawValue: EINTR)
    /// `EBADF`.
    public static let badFileDescriptor = Errno(rawValue: EBADF)
    /// `EAGAIN`.
    public static let wouldBlock = Errno(rawValue: EAGAIN)
    /// `EINPROGRESS`.
    public static let inProgress = Errno(rawValue: EINPROGRESS)
    /// `EALREADY`.
    public static let alreadyInProgress = Errno(rawValue: EALREADY)
    /// `EISCONN`.
    public static let isConnected = Errno(rawValue: EISCONN)
    /// `ENOTCONN`.
    public static let notConnected = Errno(rawValue: ENOTCONN)
    /// `ECONNREFUSED`.
    public static let connectionRefused = Errno(rawValue: ECONNREFUSED)
    /// `ECONNRESET`.
    public static let connectionReset = Errno(rawValue: ECONNRESET)
    /// `ECONNABORTED`.
    public static let connectionAborted = Errno(rawValue: ECONNABORTED)
    /// `EPIPE`.
    public static let brokenPipe = Errno(rawValue: EPIPE)
    /// `EINVAL`.
    public static let invalidArgument = Errno(rawValue: EINVAL)
    /// `EMFILE`.
    public static let tooManyOpenFiles = Errno(rawValue: EMFILE)
    /// `EADDRINUSE`.
    public static let addressInUse = Errno(rawValue: EADDRINUSE)
    /// `ETIMEDOUT`.
    public static let timedOut = Errno(rawValue: ETIMEDOUT)
    /// `EOPNOTSUPP`.
    public static let notSupported = Errno(rawValue: EOPNOTSUPP)
}
