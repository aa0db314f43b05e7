import GreenIO
import Glibc
import Synchronization

/// One hub of `greenio serve` and the listener its accept loop uses.
struct ServerWorker: Sendable {
    let hub: Hub
    let listener: Socket
}

/// How many connections one hub has accepted (counted on its thread, read at shutdown).
final class ConnectionCounter: Sendable {
    private let count = Atomic<Int>(0)

    func increment() { count.add(1, ordering: .relaxed) }

    var value: Int { count.load(ordering: .relaxed) }
}

/// How the log lines name a connection: the peer's address and, when there are several hubs, the
/// one serving it ("127.0.0.1:50312 hub=1").
struct ConnectionName: Sendable, CustomStringConvertible {
    let peer: SocketAddress
    /// The serving hub's index; nil when there is only one hub.
    let hub: Int?

    var description: String { hub.map { "\(peer) hub=\($0)" } ?? "\(peer)" }
}

extension EchoServer {
    /// Binds one listener per hub: the first, on the calling green thread's hub, to `port` (0 picks
    /// a free one), each other on a new hub thread to the port the first got, all with
    /// `SO_REUSEPORT` when there are several. On failure, what was started is closed and stopped.
    /// - Throws: `ServeFailure` if an address cannot be bound; `IOError` if a hub cannot start.
    func startWorkers(mainHub: Hub) async throws -> [ServerWorker] {
        var workers = [ServerWorker(hub: mainHub, listener: try await listen(port: port))]
        do {
            let boundPort = try workers[0].listener.localAddress().port ?? port
            for index in 1..<max(hubs, 1) {
                let hub = try Hub.startThread(name: "greenio-hub-\(index)")
                do {
                    let listener = try await hub.spawn { try await self.listen(port: boundPort) }.value
                    workers.append(ServerWorker(hub: hub, listener: listener))
                } catch {
                    hub.stop()
                    throw error
                }
            }
        } catch {
            for worker in workers {
                worker.listener.close()
                if worker.hub !== mainHub { worker.hub.stop() }
            }
            throw error
        }
        return workers
    }

    private func listen(port: Int) async throws -> Socket {
        do {
            return try await Socket.listen(host: host, port: port, reusePort: hubs > 1)
        } catch {
            throw ServeFailure("cannot listen on \(Endpoint.describe(host: host, port: port)): \(error)")
        }
    }

    /// Accepts connections on `hub` and starts each one's session there, until cancelled; closes
    /// the listener on the way out.
    ///
    /// A connection aborted before it was accepted (`ECONNABORTED`, `EPROTO`) is logged and the loop
    /// goes on at once. Running out of descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`,
    /// `ENOMEM`), or a firewall refusal (`EPERM`), starts an `AcceptStall`: the loop retries every
    /// 100 ms, logging the stall's start, a reminder every 10 s and its end, while the open
    /// connections are served as usual.
    /// - Throws: `ServeFailure` if accepting fails for good.
    func acceptConnections(on listener: Socket, hub: Hub, index: Int, counter: ConnectionCounter) async throws {
        defer { listener.close() }
        var stall: AcceptStall?
        while !Task.isCancelled {
            do {
                let (client, peer) = try await listener.accept()
                stall?.ended()
                stall = nil
                counter.increment()
                startSession(client, name: ConnectionName(peer: peer, hub: hubs > 1 ? index : nil), on: hub)
            } catch {
                if error is CancellationError { return }
                guard let error = error as? IOError, let errno = error.errno else {
                    throw ServeFailure("accept failed: \(error)")
                }
                if Self.connectionAcceptErrors.contains(errno.rawValue) {
                    StandardStreams.printError("accept failed: \(error); continuing")
                    continue
                }
                guard Self.resourceAcceptErrors.contains(errno.rawValue) else {
                    throw ServeFailure("accept failed: \(error)")
                }
                if stall == nil {
                    stall = AcceptStall(firstFailure: error)
                } else {
                    stall?.failedAgain(error)
                }
                // Give connections a moment to close; cancellation (stopping) ends the loop.
                guard (try? await Hub.sleep(for: AcceptStall.retryInterval)) != nil else { return }
            }
        }
    }

    /// Errors that fail the accept of one connection only: the next accept can go on at once.
    private static let connectionAcceptErrors: Set<Int32> = [ECONNABORTED, EPROTO]

    /// Errors after which accepting goes on after a pause: the process or system is out of a
    /// resource, which closing connections may free.
    private static let resourceAcceptErrors: Set<Int32> = [EMFILE, ENFILE, ENOBUFS, ENOMEM, EPERM]

    /// Starts the green thread that serves `client` on `hub`: echo or RESP, plain or TLS.
    private func startSession(_ client: Socket, name: ConnectionName, on hub: Hub) {
        let settings = self.settings
        switch (resp, tls?.context) {
        case (nil, nil):
            hub.spawn { await EchoSession(socket: client, name: name, settings: settings).run() }
        case (nil, let context?):
            hub.spawn {
                guard let tls = await TLSSocket.wrapAccepted(client, name: name, context: context) else { return }
                await EchoSession(socket: tls, name: name, settings: settings).run()
            }
        case (let resp?, nil):
            hub.spawn { await RESPSession(socket: client, name: name, settings: settings, resp: resp).run() }
        case (let resp?, let context?):
            hub.spawn {
                guard let tls = await TLSSocket.wrapAccepted(client, name: name, context: context) else { return }
                await RESPSession(socket: tls, name: name, settings: settings, resp: resp).run()
            }
        }
    }
}
