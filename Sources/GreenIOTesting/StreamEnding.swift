import GreenIO

/// How the receiving end of a scripted connection sees the sender's end of the stream — the
/// sender's `shutdown(.write)` or its real close.
///
/// The ending reaches the receiver after every byte sent before it, and then stays: a receive
/// after it returns the same thing again (except `.reset`, which, as a real socket's, is reported
/// once and reads as the end of the stream after that).
public enum StreamEnding: Sendable, Hashable, CustomStringConvertible {
    /// An orderly end (a TCP FIN): receives return `.completed(0)`.
    case clean
    /// A TLS close_notify: receives return `.completed(0)`, as `TLSSocket` reports one.
    case closeNotify
    /// A TLS connection whose TCP stream ended without a close_notify, on a socket that does not
    /// suppress ragged EOFs: receives throw `IOError` `.tlsEOF` "EOF occurred in violation of
    /// protocol", every time. (A socket that suppresses them reports `.clean`.)
    case ragged
    /// A connection reset: the first receive past the last byte throws `IOError` `.system`
    /// `ECONNRESET`; later receives return `.completed(0)`.
    case reset

    /// The ending's name ("clean end", "close_notify", "ragged EOF", "reset").
    public var description: String {
        switch self {
        case .clean: return "clean end"
        case .closeNotify: return "close_notify"
        case .ragged: return "ragged EOF"
        case .reset: return "reset"
        }
    }
}
