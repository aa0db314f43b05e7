import GreenIO
import Glibc
import Logging
import Synchronization

/// One hub of a server, on its own thread: it adopts its listeners, runs an accept loop on each,
/// serves the connections it accepts (one green thread each), and on a stop closes its listeners,
/// lets its connections drain, and returns — `Hub.run` then cancels the connections still open
/// and waits for them to end.
final class HubWorker: @unchecked Sendable {
    let index: Int
    let state: ServerState
    /// Signalled by `Server.stop()`.
    let stopEvent: WakeEvent
    /// Signalled when a connection slot frees while an accept loop waits for one.
    let slotEvent: WakeEvent
    /// Signalled when the hub's last connection ends during the drain.
    let drainedEvent: WakeEvent
    /// Connections handed to this hub by the accepting hub: only with `.leastConnections` (nil
    /// otherwise, so no eventfd is made for it).
    let handoff: ConnectionHandoff?
    /// Connections this hub serves or has been handed and will serve (any thread reads it: the
    /// accepting hub picks the hub with the fewest).
    let openConnections = Atomic<Int>(0)
    /// Connections this hub has accepted.
    let acceptedCount = Atomic<Int>(0)
    /// Connections this hub has started serving (accepted here or handed over).
    let servedCount = Atomic<Int>(0)
    /// Set once the hub's accept loops run (or the hub failed to start them).
    let ready = OneShot<Void>()
    /// Set once the hub's thread has served its last connection.
    let finished = OneShot<Void>()
    /// The logger with this hub's `hub` metadata.
    let logger: Logger
    /// Connections this hub is serving (hub thread only).
    @exclusivity(unchecked) var liveConnections = 0
    /// Set once the hub stopped accepting and waits for its connections to end (hub thread only).
    @exclusivity(unchecked) var draining = false
    /// On the current hub (`Server.startOnCurrentHub`): the connections' green threads, so that
    /// those still open after the drain can be cancelled and awaited, as `Hub.run` does for a hub
    /// thread of the server's own. Nil on such a thread. Hub thread only.
    @exclusivity(unchecked) var connectionTasks: [Int: Task<Void, any Error>]?
    @exclusivity(unchecked) var nextConnectionID = 0

    init(index: Int, state: ServerState) throws {
        self.index = index
        self.state = state
        stopEvent = try WakeEvent()
        slotEvent = try WakeEvent()
        drainedEvent = try WakeEvent()
        handoff = state.balancer == nil ? nil : try ConnectionHandoff()
        var logger = state.logger
        logger[metadataKey: "hub"] = .stringConvertible(index)
        self.logger = logger
        state.slots.register(slotEvent)
        state.balancer?.add(self)
    }

    /// Starts the hub's thread with its listening descriptors.
    /// - Throws: `IOError` if the thread cannot be created (the descriptors are then closed).
    func start(listeners descriptors: [Int32]) throws {
        do {
            try Hub.startThread(name: "greenio-hub-\(index)", running: { [self] in
                // SIGINT and SIGTERM go to the thread that waits for them, never to a hub.
                StopSignals.blockInThisThread()
                await self.run(listeners: descriptors)
            }, completion: { [self] outcome in
                if case .failure(let error) = outcome {
                    state.recordFailure(ServerError("hub \(index) failed: \(error)"))
                }
                ready.fulfill(())
                finished.fulfill(())
            })
        } catch {
            for fd in descriptors { _ = close(fd) }
            throw error
        }
    }

    /// Runs the hub's work as green threads of `hub`, the caller's (`Server.startOnCurrentHub`).
    func start(listeners descriptors: [Int32], onCurrentHub hub: Hub) {
        connectionTasks = [:]
        hub.spawn { [self] in
            await run(listeners: descriptors)
            // What `Hub.run` does for a thread of the server's own: cancel what is still open.
            let open = connectionTasks ?? [:]
            for task in open.values { task.cancel() }
            for task in open.values { _ = await task.result }
            ready.fulfill(())
            finished.fulfill(())
        }
    }

    /// The hub's root green thread: accept until stopped, then drain.
    private func run(listeners descriptors: [Int32]) async {
        var listeners: [(socket: Socket, proxy: ProxyProtocolConfiguration?)] = []
        let addresses = state.configuration.addresses
        for (position, fd) in descriptors.enumerated() {
            do {
                // The descriptors come in the configured addresses' order.
                let proxy = state.configuration.proxyProtocol.flatMap { proxy in
                    position < addresses.count && proxy.applies(to: addresses[position]) ? proxy : nil
                }
                // The policy's deadlines govern the server's sockets, never the process-wide
                // default timeout (`TimeoutMode.setDefault`): blocking, whatever it is.
                let listener = try Socket(adopting: fd)
                try listener.setTimeout(.blocking)
                listeners.append((listener, proxy))
            } catch {
                _ = close(fd)
                state.recordFailure(ServerError("hub \(index) cannot use its listener: \(error)"))
            }
        }
        guard let hub = Hub.current else { return }
        let acceptLoops = listeners.map { listener in
            hub.spawn { await self.acceptConnections(on: listener.socket, hub: hub, proxy: listener.proxy) }
        }
        let handoffLoop = handoff.map { handoff in hub.spawn { await self.receiveHandoffs(from: handoff, hub: hub) } }
        ready.fulfill(())
        // Only cancellation (the hub stopping) ends this wait early; either way, drain.
        _ = try? await stopEvent.wait()
        for loop in acceptLoops { loop.cancel() }
        for listener in listeners { listener.socket.close() }
        handoffLoop?.cancel()
        if let handoff { refuseHandoffs(from: handoff) }
        // Woken by the last connection's end, not by polling: on virtual time a poll every few
        // milliseconds made a 30 s drain thousands of clock jumps.
        draining = true
        let deadline = state.drainDeadline
        while liveConnections > 0 {
            guard (try? await drainedEvent.wait(until: deadline)) != nil else { break }
        }
    }
}
