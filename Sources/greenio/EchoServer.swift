import GreenIO
import Glibc

/// The line-echo server behind `greenio serve`: one hub, an accept loop that only accepts, one
/// green thread per connection (`EchoSession`), and a green thread that waits for SIGINT/SIGTERM.
struct EchoServer: Sendable {
    let host: String
    let port: Int
    let settings: EchoSettings
    /// Serve over TLS with these settings; nil for plain TCP.
    let tls: ServerTLS?

    /// Runs the server until SIGINT or SIGTERM, then stops accepting, closes the listener and
    /// returns (connections still open are cancelled and closed on the way out).
    ///
    /// - Throws: `IOError` if the signals cannot be set up, the address cannot be resolved or
    ///   bound, or accepting fails for good.
    func run() throws {
        // Before any thread exists, so that every thread inherits the blocked signals.
        let signals = try StopSignals()
        signal(SIGPIPE, SIG_IGN)
        try Hub.run { try await self.serve(stoppingOn: signals) }
    }

    private func serve(stoppingOn signals: StopSignals) async throws {
        guard let hub = Hub.current else { throw IOError(.notOnHub, "the server must run on a hub") }
        let listener: Socket
        do {
            listener = try await Socket.listen(host: host, port: port)
        } catch {
            throw ServeFailure("cannot listen on \(Endpoint.describe(host: host, port: port)): \(error)")
        }
        let address = try listener.localAddress()
        let startLine = "listening on \(address)" + (tls.map { " (tls, sha256 \($0.fingerprint))" } ?? "")
        StandardStreams.printLine(startLine)
        StandardStreams.printError(startLine)

        let stopRequested = StopFlag()
        hub.spawn {
            let name = try await signals.next()
            StandardStreams.printError("\(name) received, stopping")
            stopRequested.isSet = true
            listener.close()
        }
        try await acceptConnections(on: listener, hub: hub, stopRequested: stopRequested)
    }

    /// Accepts connections and hands each to a new green thread, until the listener is closed.
    private func acceptConnections(on listener: Socket, hub: Hub, stopRequested: StopFlag) async throws {
        let settings = self.settings
        let tlsContext = tls?.context
        while true {
            do {
                let (client, peer) = try await listener.accept()
                if let tlsContext {
                    hub.spawn { await EchoSession.serveTLS(client, peer: peer, settings: settings, context: tlsContext) }
                } else {
                    hub.spawn { await EchoSession(socket: client, peer: peer, settings: settings).run() }
                }
            } catch {
                if stopRequested.isSet || error is CancellationError { return }
                guard let error = error as? IOError, let errno = error.errno,
                      Self.transientAcceptErrors.contains(errno.rawValue) else {
                    throw ServeFailure("accept failed: \(error)")
                }
                StandardStreams.printError("accept failed: \(error); retrying")
                if errno.rawValue != ECONNABORTED && errno.rawValue != EPROTO {
                    // Out of descriptors or memory: give connections a moment to close.
                    try await Hub.sleep(for: .milliseconds(100))
                }
            }
        }
    }

    /// Errors after which accepting can go on.
    private static let transientAcceptErrors: Set<Int32> = [
        ECONNABORTED, EPROTO, EMFILE, ENFILE, ENOBUFS, ENOMEM, EPERM,
    ]
}

/// Set by the signal watcher before it closes the listener, so that the accept loop knows the
/// "closed" error it then gets is the way to stop. Used on the hub thread only.
private final class StopFlag: @unchecked Sendable {
    var isSet = false
}

/// A failure that ends `greenio serve`, with the one-line message to print.
struct ServeFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
