import Metrics

/// The server's metrics, through swift-metrics (a no-op unless the program bootstrapped a
/// `MetricsSystem` backend). Per-connection counts (lines, bytes) are kept in the connection and
/// added once, when it closes, so the per-line path never calls the backend.
///
/// | label | kind | what |
/// |---|---|---|
/// | `greenio_connections_accepted_total` | counter | connections accepted |
/// | `greenio_connections_active` | gauge | connections being served |
/// | `greenio_connections_closed_total` | counter, `reason` | connections closed, by `CloseReason.Kind` |
/// | `greenio_requests_total` | counter | lines or commands the handlers counted |
/// | `greenio_bytes_received_total`, `greenio_bytes_sent_total` | counter | payload bytes (after TLS) |
/// | `greenio_timeouts_total` | counter | connections closed by the line timeout or a send timeout |
/// | `greenio_tls_handshake_failures_total` | counter | handshakes that failed or timed out |
/// | `greenio_accept_failures_total` | counter | failed accepts (descriptors, memory, aborted) |
/// | `greenio_proxy_header_failures_total` | counter, `kind` | connections refused for their PROXY header, by `ProxyHeaderError.Kind` |
struct ServerMetrics: Sendable {
    let accepted: Counter
    let active: Gauge
    let requests: Counter
    let bytesReceived: Counter
    let bytesSent: Counter
    let timeouts: Counter
    let handshakeFailures: Counter
    let acceptFailures: Counter
    /// One counter per reason kind, made once.
    private let closed: [CloseReason.Kind: Counter]
    /// One counter per PROXY header failure kind, made once.
    private let proxyHeaderFailures: [ProxyHeaderError.Kind: Counter]

    /// The metrics, from `factory` (the bootstrapped `MetricsSystem.factory` when nil).
    init(factory: (any MetricsFactory)?) {
        let factory = factory ?? MetricsSystem.factory
        accepted = Counter(label: "greenio_connections_accepted_total", factory: factory)
        active = Gauge(label: "greenio_connections_active", factory: factory)
        requests = Counter(label: "greenio_requests_total", factory: factory)
        bytesReceived = Counter(label: "greenio_bytes_received_total", factory: factory)
        bytesSent = Counter(label: "greenio_bytes_sent_total", factory: factory)
        timeouts = Counter(label: "greenio_timeouts_total", factory: factory)
        handshakeFailures = Counter(label: "greenio_tls_handshake_failures_total", factory: factory)
        acceptFailures = Counter(label: "greenio_accept_failures_total", factory: factory)
        var closed: [CloseReason.Kind: Counter] = [:]
        for kind in CloseReason.Kind.allCases {
            closed[kind] = Counter(label: "greenio_connections_closed_total", dimensions: [("reason", kind.rawValue)],
                                   factory: factory)
        }
        self.closed = closed
        var proxyHeaderFailures: [ProxyHeaderError.Kind: Counter] = [:]
        for kind in ProxyHeaderError.Kind.allCases {
            proxyHeaderFailures[kind] = Counter(label: "greenio_proxy_header_failures_total",
                                                dimensions: [("kind", kind.rawValue)], factory: factory)
        }
        self.proxyHeaderFailures = proxyHeaderFailures
    }

    /// Counts a connection refused for its PROXY header.
    func recordProxyHeaderFailure(_ kind: ProxyHeaderError.Kind) {
        proxyHeaderFailures[kind]?.increment()
    }

    /// Counts a closed connection and what it carried.
    func recordClose(_ reason: CloseReason, requests: Int, bytesReceived: Int, bytesSent: Int) {
        closed[reason.kind]?.increment()
        if requests > 0 { self.requests.increment(by: requests) }
        if bytesReceived > 0 { self.bytesReceived.increment(by: bytesReceived) }
        if bytesSent > 0 { self.bytesSent.increment(by: bytesSent) }
        switch reason.kind {
        case .timeout, .sendTimeout: timeouts.increment()
        case .handshake: handshakeFailures.increment()
        default: break
        }
    }
}
