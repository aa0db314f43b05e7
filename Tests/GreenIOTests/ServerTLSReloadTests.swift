import Glibc
import GreenIO
import GreenIOServer
import Testing

/// Replacing a running server's certificate: `Server.replaceTLSContext` in process, and
/// `greenio serve --tls --cert --key` on SIGHUP.
@Suite("Server TLS reload", .timeLimit(.minutes(1)))
struct ServerTLSReloadTests {
    /// A verifying client context that trusts both identities.
    private func client(trusting identities: [TLSIdentity]) throws -> TLSContext {
        try TLSContext.client(verification: .trustedCertificatesPEM(identities.map(\.certificateChainPEM).joined()))
    }

    /// Connects, echoes one line, and returns the socket, its buffered pair and the server's certificate.
    private func connect(port: Int, context: TLSContext) async throws -> (TLSSocket, BufferedRWPair, String) {
        let tls = try await TLSSocket.connect(host: "127.0.0.1", port: port, context: context,
                                              serverHostname: "localhost", timeout: .timeout(.seconds(10)))
        let file = try tls.makeReadWritePair()
        try await echo("hello\n", over: file)
        return (tls, file, try tls.peerCertificatePEM() ?? "")
    }

    private func echo(_ line: String, over file: BufferedRWPair) async throws {
        _ = try await file.write(bytes(line))
        try await file.flush()
        #expect(text(try await file.readLine() ?? []) == line)
    }

    @Test("new connections get the new certificate; one open across the replacement keeps its own and echoes on")
    func replaceInProcess() async throws {
        // Two subjects: a trust store finds a self-signed certificate by its subject name.
        let first = try TLSIdentity.selfSigned(names: ["localhost", "127.0.0.1"])
        let second = try TLSIdentity.selfSigned(names: ["127.0.0.1", "localhost"])
        let (server, port) = try startTestServer { $0.tls = try? TLSContext.server(identity: first) }
        let context = try client(trusting: [first, second])
        try await onHub(limit: .seconds(20)) {
            let (old, oldFile, before) = try await connect(port: port, context: context)
            defer { oldFile.reader.close(); old.close() }
            #expect(before == first.certificateChainPEM)
            try server.replaceTLSContext(try TLSContext.server(identity: second))
            let (new, newFile, after) = try await connect(port: port, context: context)
            defer { newFile.reader.close(); new.close() }
            #expect(after == second.certificateChainPEM)
            try await echo("still here\n", over: oldFile)
            #expect(try old.peerCertificatePEM() == first.certificateChainPEM)
        }
        try await stopTestServer(server)
    }

    @Test("a plain server, or a client context, is refused and changes nothing")
    func refusals() async throws {
        let (plain, _) = try startTestServer()
        #expect(throws: ServerError.self) { try plain.replaceTLSContext(try TLSContext.server(identity: tlsTestIdentity)) }
        #expect(plain.tlsContext == nil)
        try await stopTestServer(plain)
        let original = try TLSContext.server(identity: tlsTestIdentity)
        let (server, _) = try startTestServer { $0.tls = original }
        #expect(throws: ServerError.self) { try server.replaceTLSContext(try TLSContext.client()) }
        #expect(server.tlsContext === original)
        try await stopTestServer(server)
    }

    @Test("greenio serve reloads --cert and --key on SIGHUP; files that do not load change nothing")
    func sighup() async throws {
        let first = try TLSIdentity.selfSigned(names: ["localhost", "127.0.0.1"])
        let second = try TLSIdentity.selfSigned(names: ["127.0.0.1", "localhost"])
        let files = try PEMFiles(first)
        defer { files.remove() }
        let server = try startServer(["--tls", "--cert", files.certificatePath, "--key", files.keyPath])
        defer { server.terminate() }
        let context = try client(trusting: [first, second])
        try await onHub(limit: .seconds(30)) {
            let port = try await server.tlsListening().port
            let (old, oldFile, before) = try await connect(port: port, context: context)
            defer { oldFile.reader.close(); old.close() }
            #expect(before == first.certificateChainPEM)

            try overwrite(files.certificatePath, with: second.certificateChainPEM)
            try overwrite(files.keyPath, with: second.privateKeyPEM)
            server.send(SIGHUP)
            try await waitUntil("the reload") { server.errorText().contains("reloaded the certificate: sha256 ") }
            let (new, newFile, after) = try await connect(port: port, context: context)
            defer { newFile.reader.close(); new.close() }
            #expect(after == second.certificateChainPEM)
            try await echo("open across the reload\n", over: oldFile)

            // A broken certificate, then a key that does not match: each refused, the second identity stays.
            for (certificate, key, count) in [("not a certificate", second.privateKeyPEM, 1),
                                              (second.certificateChainPEM, first.privateKeyPEM, 2)] {
                try overwrite(files.certificatePath, with: certificate)
                try overwrite(files.keyPath, with: key)
                server.send(SIGHUP)
                try await waitUntil("reload failure \(count)") {
                    server.errorText().components(separatedBy: "reload failed, keeping the current certificate").count == count + 1
                }
                let (again, againFile, still) = try await connect(port: port, context: context)
                againFile.reader.close()
                again.close()
                #expect(still == second.certificateChainPEM, "after failure \(count)")
            }
        }
        server.send(SIGTERM)
        let status = try await onHub(limit: .seconds(20)) { try await server.waitForExit(deadline: .after(.seconds(15))) }
        #expect(status == 0, "stderr: \(server.errorText())")
    }

    @Test("SIGHUP without --cert reloads nothing and the server goes on")
    func sighupWithoutFiles() async throws {
        let server = try startServer([])
        defer { server.terminate() }
        try await onHub(limit: .seconds(20)) {
            let port = try await server.listeningPort()
            server.send(SIGHUP)
            try await waitUntil("the note") { server.errorText().contains("nothing to reload: no --tls") }
            let socket = try await connectToServer(port: port)
            defer { socket.close() }
            try await socket.sendAll(bytes("alive\n"))
            #expect(text(try await receive(socket, count: 6)) == "alive\n")
        }
    }
}

/// Replaces the file at `path` with `contents`.
private func overwrite(_ path: String, with contents: String) throws {
    let temporary = try writeTemporaryFile(contents, prefix: "greenio-reload")
    guard rename(temporary, path) == 0 else { throw IOError.system(.current) }
}
