import GreenIO
import GreenIOServer
import Testing

/// Client-side session reuse: `TLSSocket.session` taken from one connection and offered to the next
/// with `wrap(…, session:)`, against GreenIO servers with resumption on (tickets and cache).
@Suite("TLS client sessions", .timeLimit(.minutes(1)))
struct TLSClientSessionTests {
    /// What one connection saw.
    private struct Visit {
        let reused: Bool
        /// The session after the echo was read (the TLS 1.3 tickets with it).
        let session: TLSClientSession?
    }

    /// A client context that remembers no sessions of its own: only the ones passed explicitly are offered.
    private func clientContext(maximumVersion: TLSVersion) throws -> TLSContext {
        let context = try TLSContext.client(verification: .trustedCertificatesPEM(tlsTestIdentity.certificateChainPEM))
        try context.setMaximumVersion(maximumVersion)
        context.remembersSessions = false
        return context
    }

    /// Connects to `port` offering `session`, echoes one line, and closes.
    private func visit(port: Int, context: TLSContext, session: TLSClientSession?) async throws -> Visit {
        let tls = try await TLSSocket.connect(host: "127.0.0.1", port: port, context: context, serverHostname: "localhost",
                                              session: session, timeout: .timeout(.seconds(10)))
        defer { tls.close() }
        let file = try tls.makeReadWritePair()
        defer { file.reader.close() }
        _ = try await file.write(bytes("line\n"))
        try await file.flush()
        #expect(try await file.readLine() == bytes("line\n"))
        return Visit(reused: tls.sessionReused, session: tls.session)
    }

    private func server() throws -> (Server, Int) {
        try startTestServer { configuration in
            configuration.tls = try? TLSContext.server(identity: tlsTestIdentity)
        }
    }

    @Test("a client that offers its last session resumes, connection after connection; one that offers none (and a context that remembers none) gets full handshakes",
          arguments: [TLSVersion.tls1_3, .tls1_2], [true, false])
    func resumesOnlyWithSession(version: TLSVersion, offering: Bool) async throws {
        let (server, port) = try server()
        let reused = try await onHub(limit: .seconds(20)) { () -> [Bool] in
            let context = try clientContext(maximumVersion: version)
            var session: TLSClientSession?
            var reused: [Bool] = []
            for _ in 0..<3 {
                let visit = try await visit(port: port, context: context, session: offering ? session : nil)
                #expect(visit.session != nil, "the server issued a session")
                reused.append(visit.reused)
                session = visit.session
            }
            return reused
        }
        try await stopTestServer(server)
        #expect(reused == (offering ? [false, true, true] : [false, false, false]))
    }

    @Test("a session from a server with other ticket keys gets a full handshake, without error", arguments: [TLSVersion.tls1_3, .tls1_2])
    func otherServerFallsBack(version: TLSVersion) async throws {
        let (first, firstPort) = try server()
        let (second, secondPort) = try server()  // its own ticket keys and its own cache
        let reused = try await onHub(limit: .seconds(20)) { () -> [Bool] in
            let context = try clientContext(maximumVersion: version)
            let fromFirst = try await visit(port: firstPort, context: context, session: nil)
            let atSecond = try await visit(port: secondPort, context: context, session: fromFirst.session)
            // The second server's own session then resumes there.
            let again = try await visit(port: secondPort, context: context, session: atSecond.session)
            return [fromFirst.session != nil, atSecond.reused, again.reused]
        }
        try await stopTestServer(first)
        try await stopTestServer(second)
        #expect(reused == [true, false, true])
    }

    @Test("TLS 1.3: no session until the server's ticket has been read; servers have none")
    func sessionAfterReading() async throws {
        let (server, port) = try server()
        let seen = try await onHub(limit: .seconds(20)) { () -> [Bool] in
            let context = try clientContext(maximumVersion: .tls1_3)
            let tls = try await TLSSocket.connect(host: "127.0.0.1", port: port, context: context, serverHostname: "localhost",
                                                  timeout: .timeout(.seconds(10)))
            defer { tls.close() }
            let before = tls.session != nil
            let file = try tls.makeReadWritePair()
            defer { file.reader.close() }
            _ = try await file.write(bytes("line\n"))
            try await file.flush()
            _ = try await file.readLine()
            return [before, tls.session != nil]
        }
        try await stopTestServer(server)
        #expect(seen == [false, true])

        let serverSide = try await onHub(limit: .seconds(20)) { () -> Bool in
            let (client, server) = try await tlsPair()
            defer { client.close(); server.close() }
            return server.session == nil
        }
        #expect(serverSide)
    }
}
