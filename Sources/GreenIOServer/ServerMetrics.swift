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
struct ServerMetrics: Sendable {
    let accepted = Counter(label: "greenio_connections_accepted_total")
    let active = Gauge(label: "greenio_connections_active")
    let requests = Counter(label: "greenio_requests_total")
    let bytesReceived = Counter(label: "greenio_bytes_received_total")
    let bytesSent = Counter(label: "greenio_bytes_sent_total")
    let timeouts = Counter(label: "greenio_timeouts_total")
    let handshakeFailures = Counter(label: "greenio_tls_handshake_failures_total")
    let acceptFailures = Counter(label: "greenio_accept_failures_total")
    /// One counter per reason kind, made once.
    private let closed: [CloseReason.Kind: Counter]

    init() {
        var closed: [CloseReason.Kind: Counter] = [:]
        for kind in CloseReason.Kind.allCases {
            closed[kind] = Counter(label: "greenio_connections_closed_total", dimensions: [("reason", kind.rawValue)])
        }
        self.closed = closed
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
