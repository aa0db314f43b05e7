import GreenIO
import Logging
import Synchronization

/// What the hubs of one server share: its configuration, handler, logger, metrics, connection
/// slots, and whether it is draining. Read on every hub; written only by `Server`.
final class ServerState: Sendable {
    let configuration: ServerConfiguration
    let handler: ServerConnectionHandler
    let metrics: ServerMetrics
    let slots: ConnectionSlots
    /// The hubs to hand connections to, with `.leastConnections` and several hubs; else nil.
    let balancer: ConnectionBalancer?
    private let draining = Atomic<Bool>(false)
    private let drainUntil = Mutex(Deadline.distantFuture)
    private let firstFailure = Mutex<ServerError?>(nil)
    private let stopRequest = Mutex<(@Sendable () -> Void)?>(nil)
    /// The TLS context new connections use: the configuration's, until `Server.replaceTLSContext`.
    private let tls: Mutex<TLSContext?>

    init(configuration: ServerConfiguration, handler: @escaping ServerConnectionHandler) {
        self.configuration = configuration
        self.handler = handler
        metrics = ServerMetrics(factory: configuration.metricsFactory)
        slots = ConnectionSlots(limit: configuration.policy.maxConnections)
        balancer = configuration.acceptBalancing == .leastConnections && configuration.hubs > 1 ? ConnectionBalancer() : nil
        tls = Mutex(configuration.tls)
    }

    /// The TLS context for a new connection (read once per handshake).
    var tlsContext: TLSContext? { tls.withLock { $0 } }

    /// Replaces the TLS context for new connections; connections already made keep theirs.
    func replaceTLSContext(_ context: TLSContext) {
        tls.withLock { $0 = context }
    }

    var policy: ConnectionPolicy { configuration.policy }
    var logger: Logger { configuration.logger }

    /// True once a stop has begun.
    var isDraining: Bool { draining.load(ordering: .relaxed) }

    /// When connections still open get cancelled.
    var drainDeadline: Deadline { drainUntil.withLock { $0 } }

    /// Marks the server draining until `deadline`; an earlier deadline replaces a later one.
    /// - Returns: true the first time.
    func beginDraining(until deadline: Deadline) -> Bool {
        drainUntil.withLock { $0 = min($0, deadline) }
        return !draining.exchange(true, ordering: .acquiringAndReleasing)
    }

    /// Records the failure that stopped the server (the first one wins).
    func recordFailure(_ failure: ServerError) {
        firstFailure.withLock { if $0 == nil { $0 = failure } }
    }

    /// Sets what `requestStop()` calls (the server's `stop()`).
    func onStopRequest(_ body: @escaping @Sendable () -> Void) {
        stopRequest.withLock { $0 = body }
    }

    /// Asks the server to stop (a hub that cannot go on).
    func requestStop() {
        stopRequest.withLock { $0 }?()
    }

    /// The failure that stopped the server, if one did.
    var failure: ServerError? { firstFailure.withLock { $0 } }
}
