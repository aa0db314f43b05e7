import GreenIO
import Glibc
import Logging
import Synchronization

/// What a server runs for each connection, in the connection's own green thread: protocol code
/// over the connection's file objects. It returns why the conversation ended (`.endOfStream`,
/// `.finished("quit")`, …); an error it throws is the reason instead (`CloseReason.forError`).
public typealias ServerConnectionHandler = @Sendable (ServerConnection) async throws -> CloseReason

/// A line-protocol server: listeners on one or more addresses, plain or TLS, served by `hubs`
/// hubs (threads), one green thread per connection running the handler.
///
/// ```swift
/// let server = try Server(configuration: ServerConfiguration(port: 7878)) { connection in
///     while true {
///         let line = try await connection.readLine()
///         if line.isEmpty { return .endOfStream }
///         try await connection.write(line)
///         if connection.reader.bufferedByteCount == 0 { try await connection.flush() }
///     }
/// }
/// try server.run()  // until SIGINT or SIGTERM
/// ```
///
/// The handler (a ``ServerConnectionHandler``) gets a ``ServerConnection`` and returns a
/// ``CloseReason``; a ``ServerConfiguration`` says where to listen, with TLS or without, on how many
/// hubs, and its ``ConnectionPolicy`` the limits of each connection.
///
/// Lifecycle: ``Server/start()`` binds every listener (a port 0 is chosen then: see
/// ``Server/localAddresses``) and starts the hubs; ``Server/stop(drainPeriod:)`` closes the listeners
/// at once (new clients are refused), gives the open connections ``ConnectionPolicy/drainPeriod`` to
/// finish (``ServerConnection/isDraining`` is then true), cancels the rest, and the server is
/// stopped once every connection has closed. ``Server/run(whenListening:onHangUp:)`` does all of
/// it on the calling thread, stopping on SIGINT or SIGTERM; as a swift-service-lifecycle `Service`,
/// ``Server/run()`` stops on the group's graceful shutdown instead. A server runs once.
public final class Server: Sendable {
    /// The configuration it was made with.
    public let configuration: ServerConfiguration
    let state: ServerState
    private let phase = Mutex(Phase.idle)
    /// Set once every hub has finished (the server is stopped).
    let stopped = OneShot<Void>()

    private enum Phase {
        case idle
        case running(workers: [HubWorker], addresses: [SocketAddress])
        case stopping(workers: [HubWorker], addresses: [SocketAddress])
        case stopped(workers: [HubWorker], addresses: [SocketAddress])
    }

    /// Makes a server; nothing runs until `start()` or `run()`.
    /// - Throws: `ServerError` for a configuration value out of range.
    public init(configuration: ServerConfiguration, handler: @escaping ServerConnectionHandler) throws {
        try configuration.validate()
        self.configuration = configuration
        state = ServerState(configuration: configuration, handler: handler)
        state.onStopRequest { [weak self] in self?.stop() }
    }

    /// The bound address of each configured address, in order (with the port a port 0 got);
    /// empty before `start()`.
    public var localAddresses: [SocketAddress] {
        phase.withLock { phase in
            switch phase {
            case .idle: return []
            case .running(_, let addresses), .stopping(_, let addresses), .stopped(_, let addresses): return addresses
            }
        }
    }

    /// True once a stop has begun.
    public var isDraining: Bool { state.isDraining }

    /// True until `start()` (or a `stop()` before it).
    var isIdle: Bool {
        phase.withLock { phase in
            if case .idle = phase { return true }
            return false
        }
    }

    /// Connections being served now, over all hubs.
    public var activeConnectionCount: Int { state.slots.count }

    /// How many connections each hub has accepted so far (hub order). With `.leastConnections`
    /// hub 0 accepts them all; `openConnectionsPerHub` shows where they are served.
    public var acceptedCountPerHub: [Int] {
        workers.map { $0.acceptedCount.load(ordering: .relaxed) }
    }

    /// How many connections each hub has served so far (hub order), those handed to it included.
    public var servedCountPerHub: [Int] {
        workers.map { $0.servedCount.load(ordering: .relaxed) }
    }

    /// How many connections each hub serves now (hub order), those handed to it and not yet
    /// started included.
    public var openConnectionsPerHub: [Int] {
        workers.map { $0.openConnections.load(ordering: .relaxed) }
    }

    private var workers: [HubWorker] {
        phase.withLock { phase in
            switch phase {
            case .running(let workers, _), .stopping(let workers, _), .stopped(let workers, _): return workers
            case .idle: return []
            }
        }
    }

    /// Binds every listener and starts the hubs; returns once every hub accepts connections.
    /// Binding happens on the calling thread (a host name is resolved there, blocking), which
    /// then waits for the hub threads to start.
    /// - Throws: `ServerError` "cannot listen on ADDRESS: REASON", "server already started", or
    ///   when a hub thread cannot start (what was started is stopped again).
    public func start() throws {
        let workers = try startWorkers { worker, descriptors in try worker.start(listeners: descriptors) }
        for worker in workers { worker.ready.waitBlocking() }
        logListening()
    }

    /// Starts the server on the hub of the calling green thread instead of hub threads of its own:
    /// its accept loop and its connections become green threads of that hub, beside the caller's.
    /// For a program that runs a server next to other green threads, and for tests on virtual
    /// time (GreenIOTesting's `VirtualTime`), where server and clients must share the hub's clock:
    /// the handshake timeout, the line timeouts and the drain then run on it. Returns once the
    /// server accepts connections; stop it with `stop()` and wait with `await waitUntilStopped()`
    /// (the blocking `waitUntilStopped()` would block the hub). Binding resolves host names on the
    /// hub thread: give addresses as numbers.
    /// - Throws: `ServerError` "startOnCurrentHub needs a green thread", "… needs hubs = 1", and as
    ///   `start()`.
    public func startOnCurrentHub() async throws {
        guard let hub = Hub.current else { throw ServerError("startOnCurrentHub needs a green thread of a hub") }
        guard configuration.hubs == 1 else { throw ServerError("startOnCurrentHub needs hubs = 1 (one hub: the current one)") }
        let workers = try startWorkers { worker, descriptors in worker.start(listeners: descriptors, onCurrentHub: hub) }
        for worker in workers { await worker.ready.value() }
        logListening()
    }

    /// Binds the listeners and starts one worker per hub with `startWorker`; the server is then
    /// running, and stops once every worker has finished.
    private func startWorkers(_ startWorker: (HubWorker, [Int32]) throws -> Void) throws -> [HubWorker] {
        try phase.withLock { phase in
            guard case .idle = phase else { throw ServerError("server already started") }
            var listeners = try ListenerSet(configuration)
            var workers: [HubWorker] = []
            do {
                for index in 0..<configuration.hubs {
                    let worker = try HubWorker(index: index, state: state)
                    try startWorker(worker, listeners.take(hub: index))
                    workers.append(worker)
                }
            } catch {
                listeners.closeRemaining()
                _ = state.beginDraining(until: .now)
                for worker in workers { worker.stopEvent.signal() }
                throw ServerError("cannot start the server's hubs: \(error)")
            }
            let addresses = listeners.addresses
            let unixPaths = listeners.unixPaths
            listeners.closeRemaining()
            phase = .running(workers: workers, addresses: addresses)
            let remaining = Atomic<Int>(workers.count)
            for worker in workers {
                worker.finished.whenFulfilled { [self] in
                    guard remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 else { return }
                    finish(unixPaths: unixPaths)
                }
            }
            return workers
        }
    }

    /// The "listening on …" notice.
    private func logListening() {
        let names = localAddresses.map(\.description).joined(separator: ", ")
        configuration.logger.notice("listening on \(names)\(configuration.tls == nil ? "" : " (tls)")")
        if configuration.hubs > 1 {
            let balancing = configuration.acceptBalancing == .leastConnections ? "least connections" : "SO_REUSEPORT"
            configuration.logger.notice("serving on \(configuration.hubs) hubs (\(balancing))")
        }
        logProxyProtocol()
    }

    /// Logs which peers may send PROXY headers; warns loudly when any peer may.
    private func logProxyProtocol() {
        guard let proxy = configuration.proxyProtocol else { return }
        if let trusted = proxy.trustedSources {
            let names = trusted.map(\.description).joined(separator: ", ")
            configuration.logger.notice("PROXY protocol headers required, trusted from \(names)")
        } else {
            configuration.logger.warning(
                "WARNING: PROXY protocol headers are believed from ANY peer: a client that connects directly can claim any address; name the load balancers as trusted sources")
        }
    }

    /// Stops the server: closes the listeners now, lets the connections drain for
    /// `policy.drainPeriod` (or `drainPeriod` if given and shorter), then cancels the rest.
    /// Returns at once; `run()` or `waitUntilStopped()` return when every connection has closed.
    /// Callable from any thread, any number of times (a shorter drain period shortens the drain).
    public func stop(drainPeriod: Duration? = nil) {
        let period = min(drainPeriod ?? configuration.policy.drainPeriod, configuration.policy.drainPeriod)
        let first = state.beginDraining(until: .after(max(period, .zero)))
        let workers: [HubWorker] = phase.withLock { phase in
            switch phase {
            case .running(let workers, let addresses):
                phase = .stopping(workers: workers, addresses: addresses)
                return workers
            case .stopping(let workers, _):
                return workers
            case .idle:
                phase = .stopped(workers: [], addresses: [])
                stopped.fulfill(())
                return []
            case .stopped:
                return []
            }
        }
        if first && !workers.isEmpty {
            let open = state.slots.count
            configuration.logger.notice("stopping: \(open) open connection\(open == 1 ? "" : "s") may go on for \(period)")
        }
        for worker in workers { worker.stopEvent.signal() }
    }

    /// Blocks the calling thread until the server has stopped (every connection closed).
    /// - Throws: the `ServerError` that stopped the server, if one did.
    public func waitUntilStopped() throws {
        stopped.waitBlocking()
        if let failure = state.failure { throw failure }
    }

    /// Waits until the server has stopped, without blocking a thread.
    /// - Throws: the `ServerError` that stopped the server, if one did.
    public func waitUntilStopped() async throws {
        await stopped.value()
        if let failure = state.failure { throw failure }
    }

    /// The TLS context new connections get: `configuration.tls`, or the last one given to
    /// `replaceTLSContext`; nil for a plain server.
    public var tlsContext: TLSContext? { state.tlsContext }

    /// Replaces the TLS context — the certificate, say — for the connections accepted from now on,
    /// while the server runs: connections already open keep the context they were made with.
    /// Callable from any thread (a `SIGHUP` handler of `run(whenListening:onHangUp:)`, say).
    /// - Throws: `ServerError` for a plain server (no `configuration.tls`) or a client context;
    ///   the server then goes on as it was.
    public func replaceTLSContext(_ context: TLSContext) throws {
        guard configuration.tls != nil else { throw ServerError("a plain server has no TLS context to replace") }
        guard context.role == .server else { throw ServerError("a client TLS context cannot serve connections") }
        state.replaceTLSContext(context)
    }

    /// Runs the server on the calling thread until SIGINT or SIGTERM (or `stop()`), then stops it
    /// gracefully and returns once every connection has closed.
    ///
    /// It blocks SIGINT and SIGTERM (and SIGHUP, with `onHangUp`) in the calling thread first, so
    /// call it from the main thread before starting other threads (a thread that does not block
    /// them would receive them and end the process); the server's own threads block them.
    /// `whenListening` runs once the listeners are bound (print the address there). `onHangUp`
    /// runs on this thread for each SIGHUP, while the server goes on serving: reload what should be
    /// reloaded there (`replaceTLSContext` with a certificate read anew). Without it, SIGHUP keeps
    /// its default action (the process ends).
    /// - Throws: `ServerError` if the server cannot start, or the failure that stopped it;
    ///   `IOError` if the signals cannot be set up; whatever `whenListening` throws (the server is
    ///   stopped first).
    public func run(whenListening: (Server) throws -> Void = { _ in }, onHangUp: ((Server) -> Void)? = nil) throws {
        let signals = try StopSignals(hangUp: onHangUp != nil)
        try start()
        do {
            try whenListening(self)
        } catch {
            stop(drainPeriod: .zero)
            stopped.waitBlocking()
            throw error
        }
        let wake = try WakeEvent()
        stopped.whenFulfilled { _ in wake.signal() }
        while let signal = signals.waitBlocking(orUntil: wake) {
            if signal == SIGHUP, let onHangUp {
                configuration.logger.notice("SIGHUP received, reloading")
                onHangUp(self)
                continue
            }
            configuration.logger.notice("\(StopSignals.name(of: signal)) received, stopping")
            stop()
            break
        }
        try waitUntilStopped()
    }

    /// Called once the last hub has finished.
    private func finish(unixPaths: [String]) {
        for path in unixPaths { unlink(path) }
        phase.withLock { phase in
            if case .stopping(let workers, let addresses) = phase { phase = .stopped(workers: workers, addresses: addresses) }
            if case .running(let workers, let addresses) = phase { phase = .stopped(workers: workers, addresses: addresses) }
        }
        configuration.logger.notice("stopped")
        stopped.fulfill(())
    }
}
