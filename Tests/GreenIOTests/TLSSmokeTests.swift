import Testing
@testable import GreenIO

@Suite("TLS smoke", .timeLimit(.minutes(1)))
struct TLSSmokeTests {
    @Test("a verified TLS 1.3 handshake over TCP and a readline echo through makefile")
    func echoOverTLS() async throws {
        let identity = try TLSIdentity.selfSigned()
        let (line, version, fingerprint) = try await onHub(limit: .seconds(20)) {
            let listener = try await Socket.listen(host: "127.0.0.1", port: 0)
            defer { listener.close() }
            let port = try listener.localAddress().port ?? 0
            let serverContext = try TLSContext.server(identity: identity)
            Hub.current!.spawn {
                let (connection, _) = try await listener.accept()
                let tls = try await TLSSocket.wrap(connection, context: serverContext)
                defer { tls.close() }
                let file = try tls.makeReadWritePair()
                defer { file.reader.close() }
                while let got = try await file.readLine(), !got.isEmpty {
                    try await file.write(got)
                    try await file.flush()
                }
            }
            let clientContext = try TLSContext.client(verification: .trustedCertificatesPEM(identity.certificateChainPEM))
            let client = try await TLSSocket.connect(host: "127.0.0.1", port: port, context: clientContext,
                                                     serverHostname: "localhost", timeout: .timeout(.seconds(5)))
            defer { client.close() }
            let file = try client.makeReadWritePair()
            defer { file.reader.close() }
            try await file.write(bytes("hello over tls\n"))
            try await file.flush()
            let line = try await file.readLine()
            return (line, client.negotiatedVersion, try identity.fingerprintSHA256())
        }
        #expect(line == bytes("hello over tls\n"))
        #expect(version == "TLSv1.3")
        #expect(fingerprint.count == 95)
    }
}

@Suite("TLS session reuse", .timeLimit(.minutes(1)))
struct TLSSessionReuseTests {
    @Test("a client context resumes the session of its previous connection to the same name")
    func resumesSession() async throws {
        let identity = try TLSIdentity.selfSigned()
        let reused = try await onHub(limit: .seconds(20)) {
            let listener = try await Socket.listen(host: "127.0.0.1", port: 0)
            defer { listener.close() }
            let port = try listener.localAddress().port ?? 0
            let serverContext = try TLSContext.server(identity: identity)
            Hub.current!.spawn {
                while true {
                    let (connection, _) = try await listener.accept()
                    Hub.current!.spawn {
                        let tls = try await TLSSocket.wrap(connection, context: serverContext)
                        defer { tls.close() }
                        let file = try tls.makeReadWritePair()
                        defer { file.reader.close() }
                        while let got = try await file.readLine(), !got.isEmpty {
                            try await file.write(got)
                            try await file.flush()
                        }
                    }
                }
            }
            let clientContext = try TLSContext.client(verification: .trustedCertificatesPEM(identity.certificateChainPEM))
            var reused: [Bool] = []
            for _ in 0..<2 {
                let client = try await TLSSocket.connect(host: "127.0.0.1", port: port, context: clientContext,
                                                         serverHostname: "localhost", timeout: .timeout(.seconds(5)))
                let file = try client.makeReadWritePair()
                try await file.write(bytes("ping\n"))
                try await file.flush()
                #expect(try await file.readLine() == bytes("ping\n"))  // the TLS 1.3 ticket arrives with data
                reused.append(client.sessionReused)
                file.reader.close()
                client.close()
            }
            return reused
        }
        #expect(reused == [false, true])
    }
}
