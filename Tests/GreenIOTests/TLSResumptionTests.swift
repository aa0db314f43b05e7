import Glibc
import GreenIO
import GreenIOServer
import Testing

/// Server-side session resumption: tickets under rotating in-memory keys, the session cache, both
/// off; across hubs; and with `openssl s_client -sess_out/-sess_in` and Python's `ssl`.
@Suite("TLS session resumption", .timeLimit(.minutes(1)))
struct TLSResumptionTests {
    /// Makes `count` connections in a row with one client context (which offers the last session it
    /// saw), each echoing a line; returns whether each resumed.
    private func resumptions(port: Int, count: Int, maximumVersion: TLSVersion? = nil,
                             between: (Int) throws -> Void = { _ in }) async throws -> [Bool] {
        let client = try TLSContext.client(verification: .trustedCertificatesPEM(tlsTestIdentity.certificateChainPEM))
        if let maximumVersion { try client.setMaximumVersion(maximumVersion) }
        var reused: [Bool] = []
        for index in 0..<count {
            try between(index)
            let tls = try await TLSSocket.connect(host: "127.0.0.1", port: port, context: client,
                                                  serverHostname: "localhost", timeout: .timeout(.seconds(10)))
            let file = try tls.makeReadWritePair()
            _ = try await file.write(bytes("line\n"))
            try await file.flush()
            #expect(try await file.readLine() == bytes("line\n"))
            reused.append(tls.sessionReused)
            file.reader.close()
            tls.close()
        }
        return reused
    }

    private func server(_ resumption: TLSSessionResumption?, hubs: Int = 1) throws -> (Server, Int) {
        try startTestServer { configuration in
            configuration.tls = try? TLSContext.server(identity: tlsTestIdentity, resumption: resumption)
            configuration.hubs = hubs
        }
    }

    @Test("by default, tickets: the second connection resumes, in TLS 1.3 and 1.2", arguments: [TLSVersion.tls1_3, .tls1_2])
    func byDefault(version: TLSVersion) async throws {
        let (server, port) = try server(nil)
        let reused = try await onHub(limit: .seconds(20)) { try await resumptions(port: port, count: 3, maximumVersion: version) }
        try await stopTestServer(server)
        #expect(reused == [false, true, true])
    }

    @Test("tickets off, cache on: sessions resume from the server's cache; both off: never", arguments: [TLSVersion.tls1_3, .tls1_2])
    func cacheAndOff(version: TLSVersion) async throws {
        let (cached, cachedPort) = try server(TLSSessionResumption(ticketKeys: nil, cache: true))
        let viaCache = try await onHub(limit: .seconds(20)) { try await resumptions(port: cachedPort, count: 3, maximumVersion: version) }
        try await stopTestServer(cached)
        #expect(viaCache == [false, true, true])
        let (off, offPort) = try server(.disabled)
        let never = try await onHub(limit: .seconds(20)) { try await resumptions(port: offPort, count: 3, maximumVersion: version) }
        try await stopTestServer(off)
        #expect(never == [false, false, false])
    }

    @Test("rotation: a ticket under a retained key resumes; under a dropped key it gets a full handshake")
    func rotation() async throws {
        let keys = try TLSSessionTicketKeys(retainedKeys: 1)
        let (server, port) = try server(TLSSessionResumption(ticketKeys: keys, cache: false))
        // Before the 2nd connection: one rotation (its ticket's key is retained). Before the 3rd:
        // two (the key of the ticket the 2nd connection renewed is dropped).
        let reused = try await onHub(limit: .seconds(20)) {
            try await resumptions(port: port, count: 3) { index in
                if index == 1 { try keys.rotate() }
                if index == 2 { try keys.rotate(); try keys.rotate() }
            }
        }
        try await stopTestServer(server)
        #expect(reused == [false, true, false])
        #expect(keys.keyCount == 2)
    }

    @Test("across hubs: one context's tickets resume on every hub")
    func acrossHubs() async throws {
        let (server, port) = try server(nil, hubs: 2)
        let reused = try await onHub(limit: .seconds(30)) { try await resumptions(port: port, count: 16) }
        let perHub = server.acceptedCountPerHub
        try await stopTestServer(server)
        #expect(reused == [false] + Array(repeating: true, count: 15))
        #expect(perHub.count == 2 && perHub.allSatisfy { $0 > 0 }, "connections per hub: \(perHub)")
    }

    @Test("greenio serve: openssl s_client -sess_out/-sess_in and Python's ssl resume; --no-session-tickets --no-session-cache turns it off")
    func cli() async throws {
        for (options, expectResumed) in [([String](), true), (["--no-session-tickets", "--no-session-cache"], false)] {
            let server = try startServer(["--tls"] + options)
            defer { server.terminate() }
            let port = try await onHub(limit: .seconds(20)) { try await server.tlsListening().port }
            let session = "/tmp/greenio-session-\(getpid())-\(port).pem"
            defer { unlink(session) }
            // The first client stays 2 s so that the server's TLS 1.3 ticket (sent after the
            // handshake) reaches it, and -sess_out has a session to write, on a busy machine too.
            let openssl = try ChildProcess(["-c", """
                (printf 'one\\n'; sleep 2) | openssl s_client -connect 127.0.0.1:\(port) -sess_out \(session) >/dev/null 2>&1
                (printf 'two\\n'; sleep 0.5) | openssl s_client -connect 127.0.0.1:\(port) -sess_in \(session) 2>/dev/null \\
                  | grep -E '^(Reused|New),' | head -1
                """], executable: try executableOnPath("sh"))
            defer { openssl.terminate() }
            let line = try await onHub(limit: .seconds(20)) { try await openssl.readLine(deadline: .after(.seconds(15))) }
            #expect(line.hasPrefix(expectResumed ? "Reused," : "New,"), "\(options): \(line)")

            let python = try ChildProcess.python("""
                import socket, ssl, sys
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                session = None
                for attempt in range(2):
                    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) as raw:
                        with context.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
                            tls.sendall(b"hi\\n")
                            tls.recv(100)
                            session = tls.session
                            reused = tls.session_reused
                print("reused" if reused else "full", flush=True)
                """, [String(port)])
            defer { python.terminate() }
            let verdict = try await onHub(limit: .seconds(20)) { try await python.readLine(deadline: .after(.seconds(15))) }
            #expect(verdict == (expectResumed ? "reused" : "full"), "\(options): \(python.errorText())")
        }
    }
}
