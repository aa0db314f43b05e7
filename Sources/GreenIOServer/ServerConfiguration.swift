import GreenIO
import Logging
import Metrics

/// Everything a ``Server`` needs besides its handler: the ``ListenAddress``es, TLS, the number of
/// hubs, the ``ConnectionPolicy``, the PROXY protocol, logging and metrics.
public struct ServerConfiguration: Sendable {
    /// Where to listen; at least one address.
    public var addresses: [ListenAddress]
    /// Serve TLS with this server context (the handshake runs in each connection's own green
    /// thread, within `policy.handshakeTimeout`); nil for plain TCP.
    public var tls: TLSContext?
    /// How many hubs (threads) accept and serve connections. Default 1.
    public var hubs = 1
    /// How connections are spread over the hubs: `.kernelHash` (the default: each hub has its own
    /// listener on every TCP address, `SO_REUSEPORT`, and serves what it accepted) or
    /// `.leastConnections` (hub 0 accepts and hands each connection to the hub serving the fewest).
    /// Nothing changes with one hub.
    public var acceptBalancing = AcceptBalancing.kernelHash
    /// The per-connection limits.
    public var policy = ConnectionPolicy()
    /// PROXY protocol headers required on some or all listeners (behind a load balancer), and
    /// the peers believed to send them; nil (the default) for none. `Docs/Deploying.md` shows it
    /// behind HAProxy and nginx.
    public var proxyProtocol: ProxyProtocolConfiguration?
    /// The listen backlog: how many clients the kernel holds while the server is not accepting
    /// (at `maxConnections`, or out of descriptors). Default 511, as nginx and Redis.
    public var backlog = 511
    /// The server's logger: start, stop, accept failures, and each connection's open and close.
    /// Connection loggers add the metadata `peer` and `hub`. Payload bytes are never logged.
    public var logger = Logger(label: "greenio.server")
    /// Where the server's metrics go (`Docs/Server.md` lists them); nil for the program's
    /// bootstrapped `MetricsSystem` (a no-op unless it bootstrapped a backend).
    public var metricsFactory: (any MetricsFactory)?

    /// A configuration for `addresses`, plain TCP unless `tls` is given.
    public init(addresses: [ListenAddress], tls: TLSContext? = nil) {
        self.addresses = addresses
        self.tls = tls
    }

    /// A configuration for one TCP address.
    public init(host: String = "127.0.0.1", port: Int, tls: TLSContext? = nil) {
        self.init(addresses: [.tcp(host: host, port: port)], tls: tls)
    }

    /// How many hubs accept: all of them, or hub 0 alone with `.leastConnections`.
    var acceptingHubs: Int { acceptBalancing == .leastConnections ? 1 : hubs }

    /// Checks the values.
    /// - Throws: `ServerError` naming the first value out of range.
    func validate() throws {
        guard !addresses.isEmpty else { throw ServerError("no address to listen on") }
        for case .tcp(_, let port) in addresses where !(0...65535).contains(port) {
            throw ServerError("port \(port) is not in 0...65535")
        }
        guard (1...1024).contains(hubs) else { throw ServerError("hubs must be in 1...1024") }
        guard backlog > 0 else { throw ServerError("backlog must be positive") }
        try policy.validate()
        try proxyProtocol?.validate(addresses: addresses)
    }
}
