import GreenIO

/// How a `Server` reads PROXY protocol headers (`ServerConfiguration.proxyProtocol`): on which
/// listeners every connection must start with one, and from which peers one is believed.
///
/// On such a listener the server reads the header before anything else — before the TLS
/// handshake on a TLS server (the balancer passes TLS through: HAProxy's `send-proxy-v2` in TCP
/// mode). A missing, malformed, truncated, oversized or slow header (the handshake deadline,
/// `ConnectionPolicy.handshakeTimeout`) closes the connection without a reply, as does a
/// connection from a peer outside `trustedSources`; each is logged (never with the bytes) and
/// counted (`greenio_proxy_header_failures_total`, by `kind`). The header's bytes are the only ones
/// taken: what follows stays in the kernel's queue for the handler (or the TLS handshake).
public struct ProxyProtocolConfiguration: Sendable {
    /// The peers allowed to send a header, by address block (the load balancers). A connection
    /// from any other peer is refused before its first byte is read, so a client cannot claim
    /// another's address by sending a header itself. Peers on a Unix-domain listener are always
    /// allowed (the socket file's permissions decide who connects). nil allows every peer, and
    /// the server logs a warning at start; an empty list is an error.
    public var trustedSources: [IPNetwork]?

    /// The listeners that require the header, by their configured address; nil for all of them.
    public var addresses: Set<ListenAddress>?

    /// The most bytes a version 2 header may carry after its fixed 16 (addresses and TLVs); a
    /// longer one is refused as too long. Default 4096.
    public var maxV2Length = ProxyHeader.defaultMaxV2Length

    /// Headers required on `addresses` (every listener when nil), believed from `trustedSources`
    /// (every peer, with a warning, when nil).
    public init(trustedSources: [IPNetwork]? = nil, addresses: Set<ListenAddress>? = nil) {
        self.trustedSources = trustedSources
        self.addresses = addresses
    }

    /// Whether the listener for `address` requires a header.
    func applies(to address: ListenAddress) -> Bool {
        addresses?.contains(address) ?? true
    }

    /// Whether `peer` may send a header.
    func trusts(_ peer: SocketAddress) -> Bool {
        if case .unix = peer { return true }
        guard let trustedSources else { return true }
        return IPNetwork.any(trustedSources, contains: peer)
    }

    /// Checks the values against the server's addresses.
    /// - Throws: `ServerError` for an empty trusted list, a limit out of range, or an address that
    ///   is not one of the server's.
    func validate(addresses configured: [ListenAddress]) throws {
        if let trustedSources, trustedSources.isEmpty {
            throw ServerError("proxyProtocol.trustedSources is empty: no peer could connect (nil trusts every peer)")
        }
        guard (0...65535).contains(maxV2Length) else { throw ServerError("proxyProtocol.maxV2Length must be in 0...65535") }
        for address in addresses ?? [] where !configured.contains(address) {
            throw ServerError("proxyProtocol names \(address), which is not one of the server's addresses")
        }
    }
}
