import GreenIO
import Glibc
import Logging

extension HubWorker {
    /// Serves one accepted connection in its own green thread: logs "open PEER", has the
    /// conversation (`converse`), gives the slot back, counts the connection and logs
    /// "close PEER (REASON)". Its frame, which lives as long as the connection, holds little:
    /// the connection's state is in `ServerConnection`.
    func serve(_ client: Socket, peer: SocketAddress) async {
        opened(peer)
        let (reason, counts) = await converse(client, peer: peer)
        closed(peer, reason: reason, counts: counts)
    }

    /// Logs "open PEER". Synchronous, so its temporaries (the message, the metadata) live on the
    /// thread's stack, not in the green thread's frame, which a connection holds for its life.
    @inline(never)
    private func opened(_ peer: SocketAddress) {
        logger.info("open \(peer)", metadata: ["peer": .stringConvertible(peer)])
    }

    /// Gives the connection's slot back, counts it, and logs "close PEER (REASON)".
    @inline(never)
    private func closed(_ peer: SocketAddress, reason: CloseReason, counts: Counts) {
        liveConnections -= 1
        state.slots.connectionEnded()
        state.metrics.active.record(state.slots.count)
        state.metrics.recordClose(reason, requests: counts.requests, bytesReceived: counts.received, bytesSent: counts.sent)
        logger.info("close \(peer) (\(reason))", metadata: ["peer": .stringConvertible(peer)])
    }

    /// What a connection carried, for the metrics.
    private typealias Counts = (requests: Int, received: Int, sent: Int)

    /// Sets TCP_NODELAY, performs the TLS handshake (within `handshakeTimeout` and the first
    /// line's deadline), runs the handler with the connection's file objects, and closes the files
    /// and the socket.
    /// - Returns: why the connection ended, and what it carried.
    @inline(never)  // Its own frame, below `serve`'s: see `prepare`.
    private func converse(_ client: Socket, peer: SocketAddress) async -> (CloseReason, Counts) {
        let accepted = Deadline.now
        let firstDeadline = state.policy.lineTimeout.map { accepted.advanced(by: $0) }
        let socket: any RawSocket
        switch await prepare(client, accepted: accepted, firstDeadline: firstDeadline) {
        case .failure(let failure):
            client.close()
            return (failure.reason, (0, 0, 0))
        case .success(let ready):
            socket = ready
        }
        defer { socket.close() }
        let connection: ServerConnection
        do {
            let file = try socket.makeReadWritePair(bufferSize: state.policy.bufferSize)
            connection = ServerConnection(socket: socket, peer: peer, hubIndex: index, file: file,
                                          firstDeadline: firstDeadline, server: state)
        } catch {
            return (.forError(error), (0, 0, 0))
        }
        // Releases the files' reference on the socket; bytes still unsent are dropped.
        defer { connection.file.reader.close() }
        let reason: CloseReason
        do {
            reason = try await state.handler(connection)
        } catch {
            reason = .forError(error, sending: connection.sendTimedOut)
        }
        let raw = connection.file.reader.raw
        return (reason, (connection.requestCount, raw.bytesRead, raw.bytesWritten))
    }

    /// Why a connection could not be made ready.
    private struct PreparationFailure: Error {
        let reason: CloseReason
    }

    /// Turns off Nagle's algorithm (TCP) and, for TLS, wraps the socket and performs the server
    /// handshake in this green thread.
    ///
    /// Never inlined: an async function's locals live in its frame, and the frames of a green
    /// thread come from its task's slab allocator, whose slabs are kept for the task's life. Kept
    /// apart, the handshake's frame is gone (its slab reused) before the handler runs; inlined, it
    /// would make one frame larger than a slab, and every connection would hold an extra slab.
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
