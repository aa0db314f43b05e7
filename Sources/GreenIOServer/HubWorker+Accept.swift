import GreenIO
import Glibc

extension HubWorker {
    /// Accepts connections on `listener` and serves each in a green thread of this hub, until
    /// cancelled; closes the listener on the way out.
    ///
    /// Each accept first takes a connection slot (`maxConnections`): at the limit the loop waits
    /// for one, and the clients wait in the backlog. A connection aborted before it was accepted
    /// (`ECONNABORTED`, `EPROTO`) is counted and the loop goes on at once. Running out of
    /// descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`), or a firewall refusal
    /// (`EPERM`), starts an `AcceptStall`: the loop retries every 100 ms, logging the stall's
    /// start, a reminder every 10 s and its end, while the open connections are served as usual.
    /// Any other error stops the server (`Server.run` throws it).
    /// With `proxy`, each connection must start with a PROXY header (`serve`).
    func acceptConnections(on listener: Socket, hub: Hub, proxy: ProxyProtocolConfiguration?) async {
        defer { listener.close() }
        var stall: AcceptStall?
        while !Task.isCancelled {
            guard (try? await state.slots.acquire(waitingOn: slotEvent)) != nil else { return }
            let client: Socket
            let peer: SocketAddress
            do {
                (client, peer) = try await listener.accept()
            } catch {
                state.slots.release()
                if error is CancellationError || Task.isCancelled { return }
                state.metrics.acceptFailures.increment()
                guard let ioError = error as? IOError, let errno = ioError.errno else {
                    return fail("accept failed: \(error)")
                }
                if Self.connectionAcceptErrors.contains(errno.rawValue) {
                    logger.warning("accept failed: \(error); continuing")
                    continue
                }
                guard Self.resourceAcceptErrors.contains(errno.rawValue) else {
                    return fail("accept failed: \(error)")
                }
                if stall == nil {
                    stall = AcceptStall(firstFailure: error, logger: logger)
                } else {
                    stall?.failedAgain(error)
                }
                // Give connections a moment to close; cancellation (stopping) ends the loop.
                guard (try? await Hub.sleep(for: AcceptStall.retryInterval)) != nil else { return }
                continue
            }
            stall?.ended()
            stall = nil
            try? client.setTimeout(.blocking)  // as the listener: the policy's deadlines govern
            acceptedCount.add(1, ordering: .relaxed)
            state.slots.connectionStarted()
            state.metrics.accepted.increment()
            state.metrics.active.record(state.slots.count)
            dispatch(client, peer: peer, proxy: proxy, hub: hub)
        }
    }

    /// Logs a failure that ends accepting and stops the server.
    private func fail(_ message: String) {
        logger.critical("\(message)")
        state.recordFailure(ServerError(message))
        state.requestStop()
    }

    /// Errors that fail the accept of one connection only: the next accept can go on at once.
    private static let connectionAcceptErrors: Set<Int32> = [ECONNABORTED, EPROTO]

    /// Errors after which accepting goes on after a pause: the process or system is out of a
    /// resource, which closing connections may free.
    private static let resourceAcceptErrors: Set<Int32> = [EMFILE, ENFILE, ENOBUFS, ENOMEM, EPERM]
}
