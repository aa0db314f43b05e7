import GreenIO

/// How `greenio bench` connects (both the steady load and `--churn`): TCP within the timeout with
/// TCP_NODELAY, the TLS handshake within the same timeout, then blocking mode (each later operation
/// is bounded by a deadline of its own). Every failure is a `BenchFailure` saying what failed.
struct BenchDialer: Sendable {
    let settings: BenchSettings

    /// A plain TCP connection.
    func connectPlain() async throws -> Socket {
        let socket = try await openSocket()
        return try blocking(socket, socket.setTimeout, failure: "cannot connect to \(settings.endpoint)")
    }

    /// A TLS connection, offering `session` for resumption when given.
    func connectTLS(_ tls: ClientTLS, session: TLSClientSession? = nil) async throws -> TLSSocket {
        let socket = try await openSocket()
        let secure: TLSSocket
        do {
            secure = try await TLSSocket.wrap(socket, context: tls.context, serverHostname: tls.serverHostname,
                                              session: session)
        } catch {
            throw BenchFailure(description: "TLS handshake with \(settings.endpoint) failed: \(error)")
        }
        return try blocking(secure, secure.setTimeout, failure: "TLS with \(settings.endpoint)")
    }

    /// Puts a new connection in blocking mode with `setTimeout` (each later operation has a deadline
    /// of its own), or closes it and throws `failure` with the error.
    private func blocking<Connection: RawSocket>(_ socket: Connection, _ setTimeout: (TimeoutMode) throws -> Void,
                                                 failure: String) throws -> Connection {
        do {
            try setTimeout(.blocking)
            return socket
        } catch {
            socket.close()
            throw BenchFailure(description: "\(failure): \(error)")
        }
    }

    /// Connects within the timeout (the socket stays in that timeout mode) and sets TCP_NODELAY.
    private func openSocket() async throws -> Socket {
        let socket: Socket
        do {
            socket = try await Socket.connect(host: settings.endpoint.host, port: settings.endpoint.port,
                                              timeout: .timeout(.seconds(settings.timeout)))
        } catch {
            throw BenchFailure(description: "cannot connect to \(settings.endpoint): \(error)")
        }
        do {
            try socket.setOption(.noDelay, true)
            return socket
        } catch {
            socket.close()
            throw BenchFailure(description: "cannot connect to \(settings.endpoint): \(error)")
        }
    }
}
