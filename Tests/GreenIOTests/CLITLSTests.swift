import Glibc
import Testing
@testable import GreenIO

/// `greenio serve --tls` as a subprocess, driven by GreenIO TLS clients and `openssl s_client`.
@Suite("CLI TLS serve", .timeLimit(.minutes(1)))
struct CLITLSServeTests {
    @Test("serve --tls prints the tls start line; its fingerprint is the certificate's; GreenIO and s_client echo")
    func selfSignedServer() async throws {
        let server = try startServer(["--tls"])
        defer { server.terminate() }
        try await onHub(limit: .seconds(30)) {
            let (port, fingerprint) = try await server.tlsListening()
            #expect(isFingerprint(fingerprint), "\(fingerprint)")

            // The certificate a client sees is the one the start line names.
            let first = try await connectTLS(port: port, verification: .insecureNoVerification)
            defer { first.close() }
            let certificate = try #require(try first.peerCertificatePEM())
            let seen = try TLSIdentity(certificateChainPEM: certificate, privateKeyPEM: "").fingerprintSHA256()
            #expect(seen == fingerprint)
            #expect(try await echoOverTLS(first, ["insecure hello"]) == ["insecure hello\n"])

            // Trusting that certificate, a client verifies the server as "localhost".
            let verified = try await connectTLS(port: port, verification: .trustedCertificatesPEM(certificate))
            defer { verified.close() }
            #expect(verified.negotiatedVersion == "TLSv1.3")
            #expect(try await echoOverTLS(verified, ["one", "two", String(repeating: "3", count: 20_000)])
                        == ["one\n", "two\n", String(repeating: "3", count: 20_000) + "\n"])

            // openssl s_client verifies it with the certificate as its CA file, and echoes.
            let caFile = try writeTemporaryFile(certificate, prefix: "greenio-ca")
            defer { unlink(caFile) }
            let client = try ChildProcess.openssl(sClientArguments(port: port, caFile: caFile), pipeInput: true)
            defer { client.terminate() }
            #expect(try await exchange(["from s_client", "again"], with: client) == ["from s_client", "again"])
            client.closeInput()
            #expect(try await client.waitForExit(deadline: .after(.seconds(10))) == 0, "\(client.errorText())")
            try await server.waitForErrorOutput(containing: "(end of stream)", deadline: .after(.seconds(5)))
        }
    }

    @Test("a failed handshake is logged and closes only that connection")
    func failedHandshakeIsLogged() async throws {
        let server = try startServer(["--tls"])
        defer { server.terminate() }
        try await onHub(limit: .seconds(30)) {
            let (port, _) = try await server.tlsListening()
            let plain = try await connectToServer(port: port)
            defer { plain.close() }
            try await plain.sendAll(bytes("GET / HTTP/1.0\r\n\r\n"))  // not TLS
            _ = try? await receiveToEnd(plain)
            try await server.waitForErrorOutput(containing: "(tls handshake failed: ", deadline: .after(.seconds(5)))

            let tls = try await connectTLS(port: port, verification: .insecureNoVerification)
            defer { tls.close() }
            #expect(try await echoOverTLS(tls, ["still serving"]) == ["still serving\n"])
        }
    }
}

/// `greenio connect --tls` against `greenio serve --tls`.
@Suite("CLI TLS connect", .timeLimit(.minutes(1)))
struct CLITLSConnectTests {
    @Test("connect --tls --cafile round trip against serve --tls --cert --key; close_notify ends the stream")
    func verifiedRoundTrip() async throws {
        let files = try PEMFiles(try TLSIdentity.selfSigned())
        defer { files.remove() }
        let server = try startServer(["--tls", "--cert", files.certificatePath, "--key", files.keyPath])
        defer { server.terminate() }
        try await onHub(limit: .seconds(30)) {
            let (port, _) = try await server.tlsListening()
            let input = (1...2000).map { "line \($0): \(String(repeating: "q", count: $0 % 90))\n" }.joined() + "tail"
            for host in ["127.0.0.1", "localhost"] {
                let result = try await runConnect(["\(host):\(port)", "--tls", "--cafile", files.certificatePath], input: input)
                #expect(result.output == input)
                #expect(result.status == 0, "\(result.errors)")
                #expect(result.errors.isEmpty, "\(result.errors)")
            }
            try await server.waitForErrorOutput(containing: "(end of stream)", deadline: .after(.seconds(5)))
            #expect(!server.errorText().contains("error"), "\(server.errorText())")
        }
    }

    @Test("connect --tls --servername checks that name: a wrong one fails, the right one works")
    func serverName() async throws {
        let files = try PEMFiles(try TLSIdentity.selfSigned(names: ["echo.test"]))
        defer { files.remove() }
        let server = try startServer(["--tls", "--cert", files.certificatePath, "--key", files.keyPath])
        defer { server.terminate() }
        try await onHub(limit: .seconds(30)) {
            let (port, _) = try await server.tlsListening()
            let address = "localhost:\(port)"
            let wrong = try await runConnect([address, "--tls", "--cafile", files.certificatePath], input: nil)
            #expect(wrong.status != 0)
            #expect(wrong.errors.contains("hostname mismatch"), "\(wrong.errors)")
            let right = try await runConnect([address, "--tls", "--cafile", files.certificatePath, "--servername", "echo.test"],
                                             input: "named\n")
            #expect(right.output == "named\n")
            #expect(right.status == 0, "\(right.errors)")
        }
    }

    @Test("connect --tls without --cafile rejects the self-signed server: one line, non-zero exit")
    func unverifiedFails() async throws {
        let server = try startServer(["--tls"])
        defer { server.terminate() }
        try await onHub(limit: .seconds(30)) {
            let (port, _) = try await server.tlsListening()
            let result = try await runConnect(["127.0.0.1:\(port)", "--tls"], input: nil)
            #expect(result.status != 0)
            #expect(result.output.isEmpty)
            let lines = result.errors.split(separator: "\n")
            #expect(result.errors.hasSuffix("\n") && lines.count == 1, "\(result.errors)")
            #expect(result.errors.contains("certificate verify failed"), "\(result.errors)")
        }
    }

    @Test("connect --tls --insecure works with the self-signed server and warns on stderr")
    func insecureWarns() async throws {
        let server = try startServer(["--tls"])
        defer { server.terminate() }
        try await onHub(limit: .seconds(30)) {
            let (port, _) = try await server.tlsListening()
            let result = try await runConnect(["127.0.0.1:\(port)", "--tls", "--insecure"], input: "unverified\n")
            #expect(result.output == "unverified\n")
            #expect(result.status == 0)
            #expect(result.errors.contains("warning") && result.errors.contains("not verified"), "\(result.errors)")
        }
    }

    @Test("connect --tls --cafile with a missing file fails with a one-line message")
    func missingCAFile() async throws {
        let result = try await onHub(limit: .seconds(20)) {
            try await runConnect(["127.0.0.1:\(try closedPort())", "--tls", "--cafile", "/nonexistent/ca.pem"], input: nil)
        }
        #expect(result.status == 1)
        #expect(result.errors.split(separator: "\n").count == 1, "\(result.errors)")
        #expect(result.errors.contains("--cafile /nonexistent/ca.pem"), "\(result.errors)")
    }

    @Test("TLS options used wrongly exit with code 2 and a usage message", arguments: [
        ["serve", "--tls", "--cert", "cert.pem"],
        ["serve", "--tls", "--key", "key.pem"],
        ["serve", "--cert", "cert.pem", "--key", "key.pem"],
        ["connect", "localhost:7878", "--cafile", "ca.pem"],
        ["connect", "localhost:7878", "--insecure"],
        ["connect", "localhost:7878", "--servername", "x"],
        ["connect", "localhost:7878", "--tls", "--insecure", "--cafile", "ca.pem"],
    ])
    func usageErrors(arguments: [String]) async throws {
        let process = try ChildProcess(arguments)
        defer { process.terminate() }
        let status = try await onHub(limit: .seconds(20)) {
            try await process.waitForExit(deadline: .after(.seconds(10)))
        }
        #expect(status == 2)
        #expect(process.errorText().contains("Usage:"), "\(process.errorText())")
    }
}

/// `--timeout` bounds the TLS handshake: these tests measure time, so they run one at a time.
@Suite("CLI TLS timeouts", .serialized, .timeLimit(.minutes(1)))
struct CLITLSTimeoutTests {
    @Test("serve --tls --timeout 0.5 closes a client that never handshakes, or stops halfway, and logs it",
          arguments: [[], Array<UInt8>([0x16, 0x03, 0x01, 0x00, 0x40])])
    func silentClientClosed(firstBytes: [UInt8]) async throws {
        let server = try startServer(["--tls", "--timeout", "0.5"])
        defer { server.terminate() }
        try await onHub(limit: .seconds(20)) {
            let (port, _) = try await server.tlsListening()
            let socket = try await connectToServer(port: port)
            defer { socket.close() }
            let start = Deadline.now
            if !firstBytes.isEmpty { try await socket.sendAll(firstBytes) }
            #expect(try await receiveToEnd(socket).isEmpty)
            let elapsed = seconds(since: start)
            #expect(elapsed > 0.4 && elapsed < 3, "closed after \(elapsed) s")
            try await server.waitForErrorOutput(containing: "(tls handshake timed out)", deadline: .after(.seconds(5)))

            let tls = try await connectTLS(port: port, verification: .insecureNoVerification)
            defer { tls.close() }
            #expect(try await echoOverTLS(tls, ["after the timeout"]) == ["after the timeout\n"])
        }
    }
}
