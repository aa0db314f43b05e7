import GreenIO

/// Why a connection ended, as its close log line says it ("close PEER (REASON)") and as the
/// `greenio_connections_closed_total` metric counts it (by `kind`).
public struct CloseReason: Sendable, Hashable, CustomStringConvertible {
    /// The reason's class: the metric dimension, one of a few fixed values.
    public enum Kind: String, Sendable, CaseIterable {
        /// The client ended its side.
        case endOfStream = "end_of_stream"
        /// The client reset the connection (`ECONNRESET`): what load balancers' health checks
        /// and impatient clients do instead of a clean end.
        case reset
        /// The handler finished the conversation (a QUIT command, say).
        case finished
        /// The client took longer than the line timeout.
        case timeout
        /// Sending took longer than the line timeout (the client stopped reading).
        case sendTimeout = "send_timeout"
        /// A line longer than `maxLineLength`.
        case lineTooLong = "line_too_long"
        /// The client broke the protocol.
        case protocolError = "protocol_error"
        /// The TLS handshake failed or took too long.
        case handshake
        /// A listener that requires a PROXY protocol header got none, a bad one, or one from an
        /// untrusted peer.
        case proxyHeader = "proxy_header"
        /// The server stopped (after its drain period) while the connection was open.
        case serverStopping = "server_stopping"
        /// Any other error (a reset has its own kind, `reset`).
        case error
    }

    /// The class, for metrics.
    public let kind: Kind
    /// The text of the log line.
    public let description: String

    /// A reason with its own text; use `kind` to class it for metrics.
    public init(_ description: String, kind: Kind) {
        self.kind = kind
        self.description = description
    }

    /// "end of stream".
    public static let endOfStream = CloseReason("end of stream", kind: .endOfStream)
    /// "reset by peer".
    public static let reset = CloseReason("reset by peer", kind: .reset)
    /// "timeout".
    public static let timeout = CloseReason("timeout", kind: .timeout)
    /// "timed out sending".
    public static let sendTimeout = CloseReason("timed out sending", kind: .sendTimeout)
    /// "line too long".
    public static let lineTooLong = CloseReason("line too long", kind: .lineTooLong)
    /// "server stopping".
    public static let serverStopping = CloseReason("server stopping", kind: .serverStopping)
    /// "tls handshake timed out".
    public static let handshakeTimedOut = CloseReason("tls handshake timed out", kind: .handshake)

    /// A finished conversation: `description` as given ("quit").
    public static func finished(_ description: String) -> CloseReason { CloseReason(description, kind: .finished) }

    /// "protocol error: MESSAGE". `message` must not quote the client's bytes (it is logged).
    public static func protocolError(_ message: String) -> CloseReason {
        CloseReason("protocol error: \(message)", kind: .protocolError)
    }

    /// "tls handshake failed: ERROR".
    public static func handshakeFailed(_ error: any Error) -> CloseReason {
        CloseReason("tls handshake failed: \(error)", kind: .handshake)
    }

    /// "proxy header KIND: DETAIL" (the header's bytes are never quoted).
    public static func proxyHeaderRefused(_ error: ProxyHeaderError) -> CloseReason {
        CloseReason("proxy header \(error)", kind: .proxyHeader)
    }

    /// The reason for an error that ended a handler: `CancellationError` is "server stopping",
    /// `IOError` `.timedOut` "timeout" (or "timed out sending" when `sending`), `.lineTooLong`
    /// "line too long", `ECONNRESET` "reset by peer", anything else "error: ERROR".
    public static func forError(_ error: any Error, sending: Bool = false) -> CloseReason {
        if error is CancellationError { return .serverStopping }
        if let error = error as? IOError {
            switch error.kind {
            case .timedOut: return sending ? .sendTimeout : .timeout
            case .lineTooLong: return .lineTooLong
            default: if error.errno == .connectionReset { return .reset }
            }
        }
        return CloseReason("error: \(error)", kind: .error)
    }
}
