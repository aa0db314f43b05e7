import GreenIO
import Glibc
import Logging

extension HubWorker {
    /// Serves one accepted connection in its own green thread: logs "open PEER", sets
    /// TCP_NODELAY, performs the TLS handshake (within `handshakeTimeout` and the first line's
    /// deadline), runs the handler with the connection's file objects, then closes everything,
    /// gives the slot back, counts the connection and logs "close PEER (REASON)".
    func serve(_ client: Socket, peer: SocketAddress) async {
        var logger = self.logger
        logger[metadataKey: "peer"] = .stringConvertible(peer)
        logger.info("open \(peer)")
        let policy = state.policy
        let accepted = Deadline.now
        let firstDeadline = policy.lineTimeout.map { accepted.advanced(by: $0) }
        let socket: any RawSocket
        let reason: CloseReason
        var counts = (requests: 0, received: 0, sent: 0)
        switch await prepare(client, accepted: accepted, firstDeadline: firstDeadline) {
        case .failure(let failure):
            socket = client
            reason = failure.reason
        case .success(let ready):
            socket = ready
            do {
                let file = try ready.makeReadWritePair(bufferSize: policy.bufferSize)
                let connection = ServerConnection(socket: ready, peer: peer, hubIndex: index, logger: logger,
                                                  file: file, firstDeadline: firstDeadline, server: state)
                do {
                    reason = try await state.handler(connection)
                } catch {
                    reason = .forError(error, sending: connection.sendTimedOut)
                }
                counts = (connection.requestCount, file.reader.raw.bytesRead, file.reader.raw.bytesWritten)
                file.reader.close()  // Releases the files' reference on the socket; unsent bytes are dropped.
            } catch {
                reason = .forError(error)
            }
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
    /// handshake in this green thread.
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
