import Glibc

/// A POSIX error number, as a typed value.
///
/// `Errno` wraps the C `errno` values so that they can be compared and printed without
/// confusing them with other integer codes (OpenSSL's `SSL_ERROR_*` numbers overlap with errnos).
public struct Errno: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The C value of the error number.
    public let rawValue: Int32

    /// Wraps a C error number.
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The error number of the calling thread's last failed C call (the C `errno`).
    public static var current: Errno { Errno(rawValue: errno) }

    /// The system's message for this error, as `strerror` gives it ("Connection refused").
    public var message: String { String(cString: strerror(rawValue)) }

    public var description: String { "[Errno \(rawValue)] \(message)" }

    public static let interrupted = Errno(rawValue: EINTR)
    public static let badFileDescriptor = Errno(rawValue: EBADF)
    public static let wouldBlock = Errno(rawValue: EAGAIN)
    public static let inProgress = Errno(rawValue: EINPROGRESS)
    public static let alreadyInProgress = Errno(rawValue: EALREADY)
    public static let isConnected = Errno(rawValue: EISCONN)
    public static let notConnected = Errno(rawValue: ENOTCONN)
    public static let connectionRefused = Errno(rawValue: ECONNREFUSED)
    public static let connectionReset = Errno(rawValue: ECONNRESET)
    public static let connectionAborted = Errno(rawValue: ECONNABORTED)
    public static let brokenPipe = Errno(rawValue: EPIPE)
    public static let invalidArgument = Errno(rawValue: EINVAL)
    public static let tooManyOpenFiles = Errno(rawValue: EMFILE)
    public static let addressInUse = Errno(rawValue: EADDRINUSE)
    public static let timedOut = Errno(rawValue: ETIMEDOUT)
    public static let notSupported = Errno(rawValue: EOPNOTSUPP)
}
