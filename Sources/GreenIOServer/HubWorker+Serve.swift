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
    ///
    /// With `proxy`, the connection must first send a PROXY header (`ProxyHeader.read`), within
    /// the handshake deadline, from a trusted peer; the header's source is then the peer (the
    /// balancer is `ServerConnection.balancer`), and the open line says "open CLIENT (via
    /// BALANCER)". A refused connection logs only "close PEER (proxy header …)".
    func serve(_ client: Socket, peer accepted: SocketAddress, proxy: ProxyProtocolConfiguration?) async {
        let acceptedAt = Deadline.now
        let firstDeadline = state.policy.lineTimeout.map { acceptedAt.advanced(by: $0) }
        let handshakeDeadline = handshakeDeadline(accepted: acceptedAt, firstDeadline: firstDeadline)
        var proxied: ProxiedPeer?
        if let proxy {
            switch await readProxyHeader(client, from: accepted, proxy: proxy, deadline: handshakeDeadline) {
            case .failure(let failure):
                return refuse(client, peer: accepted, failure)
            case .success(let header):
                proxied = header
            }
        }
        let peer = proxied?.client ?? accepted
        let logger = openLogger(peer, proxied: proxied)
        switch await prepare(client, handshakeDeadline: handshakeDeadline) {
        case .failure(let failure):
            finish(client, peer: peer, logger: logger, reason: failure.reason, connection: nil)
        case .success(let ready):
            let connection: ServerConnection
            do {
                connection = try makeConnection(ready, peer: peer, proxied: proxied, firstDeadline: firstDeadline,
                                                logger: logger)
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

    /// The connection's logger (the peer, and the balancer of a proxied one, in its metadata),
    /// after logging "open PEER" ("open CLIENT (via BALANCER)" behind a balancer).
    @inline(never)
    private func openLogger(_ peer: SocketAddress, proxied: ProxiedPeer?) -> Logger {
        // With `info` off nothing is logged about an ordinary connection: skip its logger (a copy
        // of the hub logger's metadata per connection); `finish` names the peer if it must log.
        guard self.logger.logLevel <= .info else { return self.logger }
        let logger = self.logger.forConnection(peer: peer, hub: nil, via: proxied?.balancer)
        if let proxied, proxied.client != nil {
            logger.info("open \(peer) (via \(proxied.balancer))")
        } else if let proxied {
            logger.info("open \(peer) (\(proxied.openNote))")
        } else {
            logger.info("open \(peer)")
        }
        return logger
    }

    /// The handler's view of a ready socket: its buffered file objects and the policy. Logs the
    /// subject of a client certificate ("client certificate CN=…").
    @inline(never)
    private func makeConnection(_ socket: any RawSocket, peer: SocketAddress, proxied: ProxiedPeer?,
                                firstDeadline: Deadline?, logger: Logger) throws -> ServerConnection {
        if let tls = socket as? TLSSocket, let subject = tls.peerCertificateSubject {
            logger.info("client certificate \(subject)")
        }
        let file = try socket.makeReadWritePair(bufferSize: state.policy.bufferSize)
        return ServerConnection(socket: socket, peer: peer, proxied: proxied, hubIndex: index,
                                file: file, firstDeadline: firstDeadline, server: state)
    }

    /// When the connection must be ready (its PROXY header read and its TLS handshake done):
    /// `handshakeTimeout` after the accept, and never after the first line's deadline.
    private func handshakeDeadline(accepted: Deadline, firstDeadline: Deadline?) -> Deadline? {
        // The earlier of the two; per connection, so no array.
        guard let timeout = state.policy.handshakeTimeout else { return firstDeadline }
        let handshake = accepted.advanced(by: timeout)
        guard let firstDeadline else { return handshake }
        return Swift.min(handshake, firstDeadline)
    }

    /// Closes the connection (dropping unsent bytes), gives its slot back, records its metrics and
    /// logs "close PEER (REASON)".
    @inline(never)
    func finish(_ socket: any RawSocket, peer: SocketAddress, logger: Logger, reason: CloseReason,
                connection: ServerConnection?, level: Logger.Level = .info) {
        var counts = (requests: 0, received: 0, sent: 0)
        if let connection {
            let raw = connection.file.reader.raw
            counts = (connection.requestCount, raw.bytesRead, raw.bytesWritten)
            connection.file.reader.close()  // Releases the files' reference on the socket; unsent bytes are dropped.
        }
        socket.close()
        liveConnections -= 1
        openConnections.subtract(1, ordering: .relaxed)
        if draining && liveConnections == 0 { drainedEvent.signal() }
        state.slots.connectionEnded()
        state.metrics.active.record(state.slots.count)
        state.metrics.recordClose(reason, requests: counts.requests, bytesReceived: counts.received, bytesSent: counts.sent)
        let threshold = logger.logLevel
        guard threshold <= level else { return }
        // Below `info`, `openLogger` made no connection logger: name the peer now.
        let named = threshold > .info ? logger.forConnection(peer: peer, hub: nil) : logger
        named.log(level: level, "close \(peer) (\(reason))")
    }

    /// Why a connection could not be made ready.
    private struct PreparationFailure: Error {
        let reason: CloseReason
    }

    /// Turns off Nagle's algorithm (TCP) and, for TLS, wraps the socket and performs the server
    /// handshake in this green thread. Never inlined: kept apart, the handshake's frame is gone
    /// before the handler runs.
    @inline(never)
    private func prepare(_ client: Socket, handshakeDeadline: Deadline?) async -> Result<any RawSocket, PreparationFailure> {
        if client.family != AF_UNIX { try? client.setOption(.noDelay, true) }
        guard let context = state.tlsContext else { return .success(client) }
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
