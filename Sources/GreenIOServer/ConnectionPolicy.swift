/// The limits a ``Server`` applies to every connection. Each default is what a public line server
/// would pick; `Docs/Server.md` gives the reasons.
public struct ConnectionPolicy: Sendable {
    /// How long a TLS client may take to complete its handshake, counted from the accept (and never
    /// beyond the first line's deadline). A client that takes longer is closed with "tls handshake
    /// timed out". Default 10 s; nil for no limit.
    public var handshakeTimeout: Duration? = .seconds(10)

    /// How long a client may take to complete each line: counted from the accept for the first
    /// line (the TLS handshake included), then from the end of the previous line. It is the
    /// deadline `ServerConnection`'s reading methods use, and each write or flush also gets this
    /// long. Default 300 s (SMTP's command timeout); nil for no limit.
    public var lineTimeout: Duration? = .seconds(300)

    /// The longest line `ServerConnection`'s line methods accept, terminator included; a longer
    /// one fails with `IOError` `.lineTooLong` without consuming it. Default 64 KiB.
    public var maxLineLength = 65536

    /// The most connections served at once, over all hubs. At the limit the server stops
    /// accepting: new clients wait in the kernel's listen backlog (they are never accepted and
    /// dropped) and are accepted as connections close. Default 10,000; nil for no limit (the
    /// process's descriptor limit still applies, see `Docs/Server.md`).
    public var maxConnections: Int? = 10_000

    /// How long connections may go on after a stop (`Server.stop()`, SIGTERM, SIGINT, or a
    /// `ServiceGroup`'s graceful shutdown) before they are cancelled and closed. The listeners
    /// close at once. Default 10 s.
    public var drainPeriod: Duration = .seconds(10)

    /// How long `ServerConnection.sendFinalReply(_:)` spends sending its reply and then reading
    /// and discarding input before the close, so the close does not reset a connection whose
    /// client still has bytes in flight. Default 1 s.
    public var lingerTime: Duration = .seconds(1)

    /// The buffer size of each connection's file objects (`makeReadWritePair(bufferSize:)`).
    /// Default 8 KiB; an idle connection holds no buffer whatever this is.
    public var bufferSize = 8192

    /// The default policy.
    public init() {}

    /// Checks the values.
    /// - Throws: `ServerError` naming the first value out of range.
    func validate() throws {
        for (name, duration) in [("handshakeTimeout", handshakeTimeout), ("lineTimeout", lineTimeout)] {
            if let duration, duration <= .zero { throw ServerError("\(name) must be positive") }
        }
        guard maxLineLength > 0 else { throw ServerError("maxLineLength must be positive") }
        if let maxConnections, maxConnections <= 0 { throw ServerError("maxConnections must be positive") }
        guard drainPeriod >= .zero else { throw ServerError("drainPeriod must not be negative") }
        guard lingerTime >= .zero else { throw ServerError("lingerTime must not be negative") }
        guard bufferSize > 0 else { throw ServerError("bufferSize must be positive") }
    }
}

/// A server that cannot be configured, bound or started, with a one-line message.
public struct ServerError: Error, CustomStringConvertible, Sendable {
    /// The message, one line.
    public let description: String

    /// A failure with `description` as its message.
    public init(_ description: String) { self.description = description }
}
