import Glibc
import GreenIO
import GreenIOServer
import Synchronization
import Testing

/// Client certificates: `TLSContext.server(clientVerification:clientCertificate:)`, the subject the
/// handler and the log see, and `greenio serve --client-ca`.
@Suite("Server client certificates", .timeLimit(.minutes(1)))
struct ServerClientCertificateTests {
    static let alice = Result { try TLSIdentity.selfSigned(names: ["alice"]) }
    static let mallory = Result { try TLSIdentity.selfSigned(names: ["mallory"]) }

    /// Connects with `identity` (or none), sends a line; returns the echo, or nil when the server
    /// refused (an error, or the end of the stream).
    private func exchange(port: Int, identity: TLSIdentity?) async throws -> String? {
        let context = try TLSContext.client(verification: .trustedCertificatesPEM(tlsTestIdentity.certificateChainPEM),
                                            identity: identity)
        do {
            let tls = try await TLSSocket.connect(host: "127.0.0.1", port: port, context: context,
                                                  serverHostname: "localhost", timeout: .timeout(.seconds(10)))
            defer { tls.close() }
            let file = try tls.makeReadWritePair()
            defer { file.reader.close() }
            _ = try await file.write(bytes("who am i\n"))
            try await file.flush()
            let line = try await file.readLine() ?? []
            return line.isEmpty ? nil : text(line)
        } catch let error as IOError {
            #expect(error.kind != .timedOut, "a refusal is an error or an end, never a hang")
            return nil
        }
    }

    private func startServer(_ requirement: ClientCertificateRequirement, subjects: SubjectLog,
                             log: LogStore) throws -> (Server, Int) {
        let alice = try Self.alice.get()
        return try startTestServer(configure: { configuration in
            configuration.tls = try? TLSContext.server(identity: tlsTestIdentity,
                                                       clientVerification: .trustedCertificatesPEM(alice.certificateChainPEM),
                                                       clientCertificate: requirement)
            configuration.logger = collectingLogger(log)
        }, handler: { connection in
            subjects.append(connection.clientCertificateSubject)
            return try await echoLines(connection)
        })
    }

    @Test("required: a verified client is served and named; one without a certificate, or with an untrusted one, is refused")
    func required() async throws {
        let subjects = SubjectLog()
        let log = LogStore()
        let (server, port) = try startServer(.required, subjects: subjects, log: log)
        let replies = try await onHub(limit: .seconds(20)) { () async throws -> [String?] in
            [try await exchange(port: port, identity: try Self.alice.get()),
             try await exchange(port: port, identity: nil),
             try await exchange(port: port, identity: try Self.mallory.get())]
        }
        #expect(replies == ["who am i\n", nil, nil])
        try await stopTestServer(server)
        #expect(subjects.all == ["CN=alice"])
        let messages = log.events.map(\.message)
        #expect(messages.contains { $0 == "client certificate CN=alice" }, "\(messages)")
        #expect(messages.filter { $0.contains("tls handshake failed") }.count == 2, "\(messages)")
    }

    @Test("optional: a client without a certificate is served without a subject; an untrusted one is still refused")
    func optional() async throws {
        let subjects = SubjectLog()
        let log = LogStore()
        let (server, port) = try startServer(.optional, subjects: subjects, log: log)
        let replies = try await onHub(limit: .seconds(20)) { () async throws -> [String?] in
            [try await exchange(port: port, identity: nil),
             try await exchange(port: port, identity: try Self.alice.get()),
             try await exchange(port: port, identity: try Self.mallory.get())]
        }
        #expect(replies == ["who am i\n", "who am i\n", nil])
        try await stopTestServer(server)
        #expect(subjects.all == [nil, "CN=alice"])
    }

    @Test("greenio serve --client-ca: openssl s_client with a certificate is served and logged; without one it is refused")
    func cli() async throws {
        let alice = try Self.alice.get()
        let clientFiles = try PEMFiles(alice)
        let serverFiles = try PEMFiles(tlsTestIdentity)
        defer { clientFiles.remove(); serverFiles.remove() }
        let server = GreenIOTests.startServerProcess(["--tls", "--cert", serverFiles.certificatePath, "--key", serverFiles.keyPath,
                                                      "--client-ca", clientFiles.certificatePath])
        let process = try server.get()
        defer { process.terminate() }
        let port = try await onHub(limit: .seconds(20)) { try await process.tlsListening().port }
        for (withCertificate, expected) in [(true, "who am i"), (false, "")] {
            let certificate = withCertificate ? "-cert \(clientFiles.certificatePath) -key \(clientFiles.keyPath)" : ""
            let client = try ChildProcess(["-c", """
                (printf 'who am i\\n'; sleep 1) | openssl s_client -connect 127.0.0.1:\(port) -quiet \(certificate) 2>/dev/null; echo "END"
                """], executable: try executableOnPath("sh"))
            defer { client.terminate() }
            let line = try await onHub(limit: .seconds(20)) { try await client.readLine(deadline: .after(.seconds(15))) }
            #expect(line == (expected.isEmpty ? "END" : expected), "with a certificate: \(withCertificate)")
        }
        try await onHub(limit: .seconds(10)) {
            try await waitUntil("the subject in the log") { process.errorText().contains("client certificate CN=alice") }
        }
    }
}

/// The subjects a handler saw, in order.
final class SubjectLog: Sendable {
    private let storage = Mutex<[String?]>([])
    func append(_ subject: String?) { storage.withLock { $0.append(subject) } }
    var all: [String?] { storage.withLock { $0 } }
}

/// `startServer` (the CLI child) as a Result, for use in a struct that has its own `startServer`.
func startServerProcess(_ options: [String]) -> Result<ChildProcess, any Error> {
    Result { try startServer(options) }
}
