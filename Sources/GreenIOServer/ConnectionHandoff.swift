import GreenIO
import Glibc
import Synchronization

/// Accepted connections handed to one hub by the accepting hub (`AcceptBalancing.leastConnections`):
/// a locked queue of descriptors and a wake-up for the receiving hub. Once closed (the hub
/// stopping) it takes nothing more, so no connection can be left in it unserved and unclosed.
final class ConnectionHandoff: Sendable {
    /// One accepted connection on its way: the descriptor (detached from the accepting hub), its
    /// peer, and the PROXY protocol settings of the listener it came from.
    struct Connection: Sendable {
        let fileDescriptor: Int32
        let peer: SocketAddress
        let proxy: ProxyProtocolConfiguration?
    }

    private let queue = Mutex<(connections: [Connection], closed: Bool)>(([], false))
    /// Signalled for each connection queued.
    let event: WakeEvent

    init() throws {
        event = try WakeEvent()
    }

    /// Queues `connection` and wakes the receiving hub; false (nothing queued) once closed.
    func push(_ connection: Connection) -> Bool {
        let queued = queue.withLock { queue in
            guard !queue.closed else { return false }
            queue.connections.append(connection)
            return true
        }
        if queued { event.signal() }
        return queued
    }

    /// The connections queued so far, removed from the queue.
    func takeAll() -> [Connection] {
        queue.withLock { queue in
            defer { queue.connections = [] }
            return queue.connections
        }
    }

    /// Takes nothing more from now on; returns what was still queued.
    func close() -> [Connection] {
        queue.withLock { queue in
            queue.closed = true
            defer { queue.connections = [] }
            return queue.connections
        }
    }
}

/// The hubs of a server that balances by least connections, for the accepting hub to choose from.
final class ConnectionBalancer: Sendable {
    private let workers = Mutex<[HubWorker]>([])

    /// Adds a hub (in index order, as the server creates them).
    func add(_ worker: HubWorker) {
        workers.withLock { $0.append(worker) }
    }

    /// The hub serving the fewest connections now (the lowest index among equals).
    func leastLoaded() -> HubWorker? {
        workers.withLock { workers in
            var best: HubWorker?
            var fewest = Int.max
            for worker in workers {
                let open = worker.openConnections.load(ordering: .relaxed)
                if open < fewest {
                    best = worker
                    fewest = open
                }
            }
            return best
        }
    }
}
