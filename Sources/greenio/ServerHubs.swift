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
    /// - Throws: `ServeFailure` if accepting fails for good.
    func acceptConnections(on listener: Socket, hub: Hub, index: Int, counter: ConnectionCounter) async throws {
        defer { listener.close() }
        while !Task.isCancelled {
            do {
                let (client, peer) = try await listener.accept()
                counter.increment()
                startSession(client, name: ConnectionName(peer: peer, hub: hubs > 1 ? index : nil), on: hub)
            } catch {
                if error is CancellationError { return }
                guard let error = error as? IOError, let errno = error.errno,
                      Self.transientAcceptErrors.contains(errno.rawValue) else {
                    throw ServeFailure("accept failed: \(error)")
                }
                StandardStreams.printError("accept failed: \(error); retrying")
                if errno.rawValue != ECONNABORTED && errno.rawValue != EPROTO {
                    // Out of descriptors or memory: give connections a moment to close.
                    guard (try? await Hub.sleep(for: .milliseconds(100))) != nil else { return }
                }
            }
        }
    }

    /// Errors after which accepting can go on.
    private static let transientAcceptErrors: Set<Int32> = [
        ECONNABORTED, EPROTO, EMFILE, ENFILE, ENOBUFS, ENOMEM, EPERM,
    ]

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
