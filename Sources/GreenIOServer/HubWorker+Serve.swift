import GreenIO
import Glibc
import Logging

extension HubWorker {
    /// Serves one accepted connection in its own green thread: logs "open PEER", sets
    /// TCP_NODELAY, performs the TLS handshake (within `handshakeTimeout` and the first line's
    /// deadline), runs the handler with the connection's file objects, then closes everything,
    /// gives the slot back, counts the connection and logs "close PEER (REASON)".
    ///
    /// Memory: this function's async frame stays on the green thread's stack for the whole
    /// connection (below the handler's), so it holds only what crosses its awaits; the logging,
    /// the file objects' set-up and the close are synchronous helpers whose temporaries live on
    /// the thread's stack. (Each 1 KiB the task's frames need beyond its allocator's slab is one
    /// more KiB per idle connection.)
    func serve(_ client: Socket, peer: SocketAddress) async {
        let logger = openLogger(peer)
        let accepted = Deadline.now
        let firstDeadline = state.policy.lineTimeout.map { accepted.advanced(by: $0) }
        switch await prepare(client, accepted: accepted, firstDeadline: firstDeadline) {
        case .failure(let failure):
            finish(client, peer: peer, logger: logger, reason: failure.reason, connection: nil)
        case .success(let ready):
            let connection: ServerConnection
            do {
                connection = try makeConnection(ready, peer: peer, firstDeadline: firstDeadline)
            } catch {
                return finish(ready, peer: peer, logger: logger, reason: .forError(error), connection: nil)
            }
            let reason: CloseReason
            do {
                reason = try await state.handler(connection)
            } catch {
                reason = .forError(error, sending: connection.sendTimedOut)
            }
            finish(ready, peer: peer, logger: logger, reason: reason, connection: connection)
        }
    }

    /// The connection's logger (the peer in its metadata), after logging "open PEER".
    @inline(never)
    private func openLogger(_ peer: SocketAddress) -> Logger {
        let logger = self.logger.forConnection(peer: peer, hub: index)
        logger.info("open \(peer)")
        return logger
    }

    /// The handler's view of a ready socket: its buffered file objects and the policy.
    @inline(never)
    private func makeConnection(_ socket: any RawSocket, peer: SocketAddress,
                                firstDeadline: Deadline?) throws -> ServerConnection {
        let file = try socket.makeReadWritePair(bufferSize: state.policy.bufferSize)
        return ServerConnection(socket: socket, peer: peer, hubIndex: index,
                                file: file, firstDeadline: firstDeadline, server: state)
    }

    /// Closes the connection (dropping unsent bytes), gives its slot back, records its metrics and
    /// logs "close PEER (REASON)".
    @inline(never)
    private func finish(_ socket: any RawSocket, peer: SocketAddress, logger: Logger, reason: CloseReason,
                        connection: ServerConnection?) {
        var counts = (requests: 0, received: 0, sent: 0)
        if let connection {
            let raw = connection.file.reader.raw
            counts = (connection.requestCount, raw.bytesRead, raw.bytesWritten)
            connection.file.reader.close()  // Releases the files' reference on the socket; unsent bytes are dropped.
        }
        socket.close()
        liveConnections -= 1
        state.slots.connectionEnded()
        state.metrics.active.record(state.slots.count)
        state.metrics.recordClose(reason, requests: counts.requests, bytesReceived: counts.received, bytesSent: counts.sent)
        logger.info("close \(peer) (\(reason))")
    }

    /// Why a connection could not be made ready.
    private struct PreparationFailure: Error {
        let reason: CloseReason
    }

    /// Turns off Nagle's algorithm (TCP) and, for TLS, wraps the socket and performs the server
    /// handshake in this green thread. Never inlined: kept apart, the handshake's frame is gone
    /// before the handler runs.
    @inline(never)
    private func prepare(_ client: Socket, accepted: Deadline, firstDeadline: Deadline?) async -> Result<any RawSocket, PreparationFailure> {
        if client.family != AF_UNIX { try? client.setOption(.noDelay, true) }
        guard let context = state.configuration.tls else { return .success(client) }
        let handshakeDeadline = [state.policy.handshakeTimeout.map { accepted.advanced(by: $0) }, firstDeadline]
            .compactMap { $0 }.min()
        do {
            let tls = try await TLSSocket.wrap(client, context: context, handshake: false)
            do {
                try await tls.handshake(deadline: handshakeDeadline)
            } catch {
                tls.close()
                throw error
            }
            return .success(tls)
        } catch is CancellationError {
            return .failure(PreparationFailure(reason: .serverStopping))
        } catch let error as IOError where error.kind == .timedOut {
            return .failure(PreparationFailure(reason: .handshakeTimedOut))
        } catch {
            return .failure(PreparationFailure(reason: .handshakeFailed(error)))
        }
    }
}
