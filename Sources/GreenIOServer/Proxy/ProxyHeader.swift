import GreenIO

/// A PROXY protocol header (HAProxy's "PROXY protocol", versions 1 and 2): what a load balancer
/// sends at the start of each connection it opens to a backend, naming the client it relays.
///
/// A `Server` reads it before anything else on listeners that require one
/// (`ServerConfiguration.proxyProtocol`); the handler sees it as `ServerConnection.proxyHeader`,
/// and `ServerConnection.peer` is its `source` when it has one.
public struct ProxyHeader: Sendable, Hashable {
    /// The protocol version: 1 (a text line) or 2 (binary).
    public enum Version: Int, Sendable, Hashable {
        /// Version 1: a text line, "PROXY TCP4 …\r\n".
        case v1 = 1
        /// Version 2: binary, a 16-byte fixed part with its signature, then addresses and TLVs.
        case v2 = 2
    }

    /// What the balancer says the connection is.
    public enum Command: Sendable, Hashable {
        /// A relayed client connection: `source` and `destination` name it (when the family is
        /// known).
        case proxy
        /// A connection of the balancer's own (its health check, say), version 2 only: the
        /// connection's own endpoints apply and the address block is ignored.
        case local
    }

    /// The version the header was written in.
    public let version: Version
    /// `.proxy`, or `.local` for the balancer's own connection.
    public let command: Command
    /// The client's address; nil for `.local`, for v1 `UNKNOWN`, and for v2 `AF_UNSPEC` or an
    /// unspecified transport: then the connection's own peer applies.
    public let source: SocketAddress?
    /// The address the client connected to (the balancer's front end); nil when `source` is.
    public let destination: SocketAddress?
    /// The v2 `PP2_TYPE_ALPN` value (the protocol the client negotiated with a TLS-terminating
    /// balancer), if sent.
    public let alpn: [UInt8]?
    /// The v2 `PP2_TYPE_AUTHORITY` value (the host name the client asked for, from its TLS SNI),
    /// if sent as valid UTF-8.
    public let authority: String?
    /// The header's length in bytes: the connection's data starts right after it.
    public let length: Int

    /// A header with these fields.
    public init(version: Version, command: Command, source: SocketAddress?, destination: SocketAddress?,
                alpn: [UInt8]? = nil, authority: String? = nil, length: Int) {
        self.version = version
        self.command = command
        self.source = source
        self.destination = destination
        self.alpn = alpn
        self.authority = authority
        self.length = length
    }

    /// The longest version 1 header the specification allows, CRLF included.
    public static let maxV1Length = 107
    /// The fixed part of a version 2 header: the signature, version and command, family and
    /// length.
    public static let v2FixedLength = 16
    /// The twelve bytes every version 2 header starts with.
    public static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    /// The six bytes every version 1 header starts with.
    public static let v1Prefix: [UInt8] = Array("PROXY ".utf8)
}

/// Why bytes are not a valid PROXY header. The description never quotes the bytes (it is logged).
public struct ProxyHeaderError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The class of failure.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// The connection does not start with a PROXY signature (v1 `PROXY ` or the v2 signature).
        case missing
        /// The bytes start like a header but break the grammar.
        case malformed
        /// A v1 header longer than 107 bytes, or a v2 header longer than the configured limit.
        case tooLong = "too_long"
        /// The connection ended before the header was complete.
        case truncated
        /// The header did not arrive within the deadline.
        case timedOut = "timed_out"
        /// The peer is not among the trusted sources.
        case untrusted
    }

    /// The class, for metrics and tests.
    public let kind: Kind
    /// A short fixed text about the failure (never the client's bytes).
    public let detail: String

    /// An error of `kind` with `detail`.
    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    /// The kind's name ("missing", "too_long", …), then ": " and the detail when there is one.
    public var description: String { detail.isEmpty ? kind.rawValue : "\(kind.rawValue): \(detail)" }
}

/// What `ProxyHeader.parse` makes of the bytes at the start of a connection.
public enum ProxyHeaderParseResult: Sendable, Hashable {
    /// A complete, valid header of `header.length` bytes (the bytes after it are not looked at).
    case complete(ProxyHeader)
    /// Valid so far: more bytes are needed (the result for any prefix of a valid header).
    case incomplete
    /// Not a valid header, whatever follows.
    case invalid(ProxyHeaderError)
}
