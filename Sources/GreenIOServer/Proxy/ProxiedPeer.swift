import GreenIO

/// What a connection's PROXY header said, kept with the connection (one reference: a connection
/// without a header holds nil).
final class ProxiedPeer: Sendable {
    /// The header as received.
    let header: ProxyHeader
    /// The connection's own peer: the load balancer.
    let balancer: SocketAddress

    init(header: ProxyHeader, balancer: SocketAddress) {
        self.header = header
        self.balancer = balancer
    }

    /// The client the header names, or nil when it names none (LOCAL, UNKNOWN, `AF_UNSPEC`): the
    /// connection's own peer then stands.
    var client: SocketAddress? { header.source }

    /// The open line's note for a header that names no client: what it said instead.
    var openNote: String {
        header.command == .local ? "proxy LOCAL: the balancer's own connection" : "proxy header names no client"
    }
}
