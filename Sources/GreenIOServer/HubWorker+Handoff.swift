import GreenIO
import Glibc

extension HubWorker {
    /// Serves the connection `client` in a green thread of this hub (which accepted it, or was
    /// handed it): counted live until `finish`, tracked for cancellation on a caller's hub.
    func startServing(_ client: Socket, peer: SocketAddress, proxy: ProxyProtocolConfiguration?, hub: Hub) {
        liveConnections += 1
        servedCount.add(1, ordering: .relaxed)
        if connectionTasks == nil {
            hub.spawn { await self.serve(client, peer: peer, proxy: proxy) }
        } else {
            let id = nextConnectionID
            nextConnectionID &+= 1
            connectionTasks?[id] = hub.spawn {
                await self.serve(client, peer: peer, proxy: proxy)
                self.connectionTasks?[id] = nil
            }
        }
    }

    /// On the accepting hub (`.leastConnections`): serves `client` here, or hands it to the hub
    /// serving the fewest connections. A hub that no longer takes connections (it is stopping)
    /// leaves the connection here.
    func dispatch(_ client: Socket, peer: SocketAddress, proxy: ProxyProtocolConfiguration?, hub: Hub) {
        if let balancer = state.balancer, let target = balancer.leastLoaded(), target !== self,
           let handoff = target.handoff {
            target.openConnections.add(1, ordering: .relaxed)
            let fd = client.detach()
            if handoff.push(.init(fileDescriptor: fd, peer: peer, proxy: proxy)) { return }
            target.openConnections.subtract(1, ordering: .relaxed)
            guard let adopted = try? Socket(adopting: fd) else {
                _ = Glibc.close(fd)
                connectionNeverServed()
                return
            }
            try? adopted.setTimeout(.blocking)
            return serveHere(adopted, peer: peer, proxy: proxy, hub: hub)
        }
        serveHere(client, peer: peer, proxy: proxy, hub: hub)
    }

    private func serveHere(_ client: Socket, peer: SocketAddress, proxy: ProxyProtocolConfiguration?, hub: Hub) {
        openConnections.add(1, ordering: .relaxed)
        startServing(client, peer: peer, proxy: proxy, hub: hub)
    }

    /// A green thread of this hub: serves each connection handed over, until cancelled.
    func receiveHandoffs(from handoff: ConnectionHandoff, hub: Hub) async {
        while (try? await handoff.event.wait()) != nil {
            for connection in handoff.takeAll() {
                let client: Socket
                do {
                    client = try Socket(adopting: connection.fileDescriptor)
                } catch {
                    _ = Glibc.close(connection.fileDescriptor)
                    openConnections.subtract(1, ordering: .relaxed)
                    connectionNeverServed()
                    logger.warning("cannot serve a connection handed over from hub 0: \(error)")
                    continue
                }
                try? client.setTimeout(.blocking)  // as the accepting hub's: the policy's deadlines govern
                startServing(client, peer: connection.peer, proxy: connection.proxy, hub: hub)
            }
        }
    }

    /// The hub is stopping: takes no more connections, and closes those handed over but not
    /// started yet (their clients see the connection closed, as those still in a backlog do).
    func refuseHandoffs(from handoff: ConnectionHandoff) {
        for connection in handoff.close() {
            _ = Glibc.close(connection.fileDescriptor)
            openConnections.subtract(1, ordering: .relaxed)
            connectionNeverServed()
        }
    }

    /// Gives back the slot of a connection accepted but closed before it was served.
    private func connectionNeverServed() {
        state.slots.connectionEnded()
        state.metrics.active.record(state.slots.count)
    }
}
