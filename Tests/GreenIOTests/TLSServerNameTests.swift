import Glibc
import GreenIO
import Testing

/// Several identities chosen by SNI: `TLSContext.addServerName` in process, and `greenio serve
/// --sni NAME=CERT,KEY` against Python's `ssl` and `openssl s_client -servername`.
@Suite("TLS server names (SNI)", .timeLimit(.minutes(1)))
struct TLSServerNameTests {
    /// The certificate a client asking for `name` (nil: no SNI) gets from `server`.
    private func certificate(asking name: String?, from server: TLSContext) async throws -> String? {
        try await onHub(limit: .seconds(20)) {
            let (plainClient, plainServer) = try await tcpPair()
            defer { plainServer.close() }
            try plainClient.setTimeout(seconds: 10)
            try plainServer.setTimeout(seconds: 10)
            let serverTask = Hub.current!.spawn { try await TLSSocket.wrap(plainServer, context: server) }
            let tls = try await TLSSocket.wrap(plainClient, context: try TLSContext.client(verification: .insecureNoVerification),
                                               serverHostname: name)
            defer { tls.close() }
            try await serverTask.value.close()
            return try tls.peerCertificatePEM()
        }
    }

    @Test("exact names (any case), one-label wildcards, and the default for no name or an unknown one")
    func selection() async throws {
        let fallback = try TLSIdentity.selfSigned(names: ["default.test"])
        let mail = try TLSIdentity.selfSigned(names: ["mail.example.com"])
        let wildcard = try TLSIdentity.selfSigned(names: ["*.example.com"])
        let server = try TLSContext.server(identity: fallback)
        try server.addServerName("MAIL.example.com", context: try TLSContext.server(identity: mail))
        try server.addServerName("*.example.com", context: try TLSContext.server(identity: wildcard))
        let expectations: [(String?, TLSIdentity)] = [
            ("mail.example.com", mail), ("Mail.Example.COM", mail), ("www.example.com", wildcard),
            ("a.b.example.com", fallback), ("example.com", fallback), ("other.test", fallback), (nil, fallback),
        ]
        for (name, identity) in expectations {
            #expect(try await certificate(asking: name, from: server) == identity.certificateChainPEM, "\(name ?? "no SNI")")
        }
    }

    @Test("bad names and client contexts are refused")
    func refusals() throws {
        let server = try TLSContext.server(identity: tlsTestIdentity)
        let other = try TLSContext.server(identity: tlsTestIdentity)
        for name in ["", "*", "*.", "a.*.com", "a b.com", ".example.com", "example.com."] {
            #expect(throws: IOError.self, "\(name)") { try server.addServerName(name, context: other) }
        }
        #expect(throws: IOError.self) { try server.addServerName("a.test", context: try TLSContext.client()) }
        #expect(throws: IOError.self) { try TLSContext.client().addServerName("a.test", context: other) }
    }

    @Test("greenio serve --sni: Python's ssl and openssl s_client -servername get the identity for their name")
    func cli() async throws {
        let fallback = try TLSIdentity.selfSigned(names: ["localhost"])
        let mail = try TLSIdentity.selfSigned(names: ["mail.example.com"])
        let wildcard = try TLSIdentity.selfSigned(names: ["*.example.org"])
        let files = try [fallback, mail, wildcard].map { try PEMFiles($0) }
        defer { files.forEach { $0.remove() } }
        let server = try startServer(["--tls", "--cert", files[0].certificatePath, "--key", files[0].keyPath,
                                      "--sni", "mail.example.com=\(files[1].certificatePath),\(files[1].keyPath)",
                                      "--sni", "*.example.org=\(files[2].certificatePath),\(files[2].keyPath)"])
        defer { server.terminate() }
        let expected = ["mail.example.com": try mail.fingerprintSHA256(), "www.example.org": try wildcard.fingerprintSHA256(),
                        "unknown.test": try fallback.fingerprintSHA256()]
        let port = try await onHub(limit: .seconds(20)) { try await server.tlsListening().port }

        let script = """
            import hashlib, socket, ssl, sys
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            for name in sys.argv[2:]:
                with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) as raw:
                    with context.wrap_socket(raw, server_hostname=name) as tls:
                        digest = hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest().upper()
                        print(name, ":".join(digest[i:i + 2] for i in range(0, len(digest), 2)), flush=True)
            """
        let names = expected.keys.sorted()
        let python = try ChildProcess.python(script, [String(port)] + names)
        defer { python.terminate() }
        let seen = try await onHub(limit: .seconds(20)) { () -> [String: String] in
            var seen: [String: String] = [:]
            for _ in names {
                let parts = try await python.readLine(deadline: .after(.seconds(15))).split(separator: " ")
                if parts.count == 2 { seen[String(parts[0])] = String(parts[1]) }
            }
            return seen
        }
        #expect(seen == expected, "stderr: \(python.errorText())")

        let openssl = try ChildProcess(["-c", """
            openssl s_client -connect 127.0.0.1:\(port) -servername mail.example.com </dev/null 2>/dev/null \
              | openssl x509 -noout -fingerprint -sha256
            """], executable: try executableOnPath("sh"))
        defer { openssl.terminate() }
        let line = try await onHub(limit: .seconds(20)) { try await openssl.readLine(deadline: .after(.seconds(15))) }
        #expect(line.uppercased().hasSuffix("=" + (expected["mail.example.com"] ?? "?")), "\(line)")
    }

    @Test("--sni needs --tls and NAME=CERT,KEY")
    func cliValidation() async throws {
        for arguments in [["--sni", "a.test=c,k"], ["--tls", "--sni", "a.test"], ["--tls", "--sni", "a.test=c"]] {
            let server = try startServer(arguments)
            defer { server.terminate() }
            let status = try await onHub(limit: .seconds(20)) { try await server.waitForExit(deadline: .after(.seconds(15))) }
            #expect(status == 2, "\(arguments): \(server.errorText())")
        }
    }
}
