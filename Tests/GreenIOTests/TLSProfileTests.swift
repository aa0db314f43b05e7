import Glibc
import Testing
@testable import GreenIO

/// `TLSProfile`: Mozilla's "intermediate" by default on both ends, "modern", and the OpenSSL
/// defaults escape hatch, between a GreenIO client and a GreenIO server over real OpenSSL. (The
/// server side is also scanned by sslyze: `.ci/tls-scan`, `Docs/TLS.md`.)
@Suite("TLS profiles", .timeLimit(.minutes(1)))
struct TLSProfileTests {
    /// Handshakes a client and a server context over a TCP pair; returns (version, cipher) as the
    /// client sees them, or the client's error.
    private func handshake(client: TLSContext, server: TLSContext) async throws -> Result<(String?, String?), any Error> {
        try await onHub(limit: .seconds(20)) {
            let (plainClient, plainServer) = try await tcpPair()
            try plainClient.setTimeout(seconds: 10)
            try plainServer.setTimeout(seconds: 10)
            let serverTask = Hub.current!.spawn { () async throws -> TLSSocket in
                try await TLSSocket.wrap(plainServer, context: server)
            }
            defer { plainServer.close() }
            do {
                let tls = try await TLSSocket.wrap(plainClient, context: client, serverHostname: "localhost")
                defer { tls.close() }
                let serverSide = try await serverTask.value
                serverSide.close()
                return .success((tls.negotiatedVersion, tls.cipher))
            } catch {
                plainClient.close()
                _ = try? await serverTask.value
                return .failure(error)
            }
        }
    }

    private func clientContext(_ profile: TLSProfile = .intermediate) throws -> TLSContext {
        try TLSContext.client(verification: .trustedCertificatesPEM(tlsTestIdentity.certificateChainPEM), profile: profile)
    }

    @Test("by default both ends negotiate TLS 1.3 with AES-128-GCM, or TLS 1.2 with ECDHE and AES-GCM")
    func defaults() async throws {
        let server = try TLSContext.server(identity: tlsTestIdentity)
        let newest = try await handshake(client: try clientContext(), server: server).get()
        #expect(newest.0 == "TLSv1.3" && newest.1 == "TLS_AES_128_GCM_SHA256")
        let client12 = try clientContext()
        try client12.setMaximumVersion(.tls1_2)
        let older = try await handshake(client: client12, server: server).get()
        #expect(older.0 == "TLSv1.2" && older.1 == "ECDHE-ECDSA-AES128-GCM-SHA256")
    }

    @Test("an intermediate server refuses a client offering only CBC suites (TLS 1.2), or only X448 (TLS 1.3); OpenSSL's defaults accept both")
    func serverFloor() async throws {
        let intermediate = try TLSContext.server(identity: tlsTestIdentity)
        let defaults = try TLSContext.server(identity: tlsTestIdentity, profile: .openSSLDefaults)
        // TLS 1.2 ties an ECDSA certificate's curve (P-256 here) to the groups offered: CBC is offered over P-256.
        let cbc = try clientContext(.openSSLDefaults)
        try cbc.setMaximumVersion(.tls1_2)
        try cbc.setCiphers("ECDHE-ECDSA-AES128-SHA")
        try cbc.setGroups("P-256")
        let x448 = try clientContext(.openSSLDefaults)
        try x448.setMinimumVersion(.tls1_3)
        try x448.setGroups("X448")
        for (name, client, expected) in [("CBC", cbc, "ECDHE-ECDSA-AES128-SHA"), ("X448", x448, "TLS_AES_256_GCM_SHA384")] {
            let refused = try await handshake(client: client, server: intermediate)
            #expect(throws: IOError.self, "\(name) against intermediate") { try refused.get() }
            switch try await handshake(client: client, server: defaults) {
            case .success(let negotiated): #expect(negotiated.1 == expected, "\(name) against OpenSSL's defaults")
            case .failure(let error): Issue.record("\(name) against OpenSSL's defaults: \(error)")
            }
        }
    }

    @Test("a default client refuses a server that offers only CBC suites; the escape hatch connects")
    func clientFloor() async throws {
        let server = try TLSContext.server(identity: tlsTestIdentity, profile: .openSSLDefaults)
        try server.setMaximumVersion(.tls1_2)
        try server.setCiphers("ECDHE-ECDSA-AES128-SHA")
        let refused = try await handshake(client: try clientContext(), server: server)
        #expect(throws: IOError.self) { try refused.get() }
        let hatch = try clientContext(.openSSLDefaults)
        let accepted = try await handshake(client: hatch, server: server).get()
        #expect(accepted.0 == "TLSv1.2" && accepted.1 == "ECDHE-ECDSA-AES128-SHA")
    }

    @Test("a modern server refuses TLS 1.2 and accepts TLS 1.3")
    func modern() async throws {
        let server = try TLSContext.server(identity: tlsTestIdentity, profile: .modern)
        let client12 = try clientContext()
        try client12.setMaximumVersion(.tls1_2)
        let refused = try await handshake(client: client12, server: server)
        #expect(throws: IOError.self) { try refused.get() }
        let accepted = try await handshake(client: try clientContext(), server: server).get()
        #expect(accepted.0 == "TLSv1.3")
    }

    @Test("an unknown group name is refused with an error that names the list")
    func badGroup() throws {
        let context = try clientContext()
        #expect(throws: IOError.self) { try context.setGroups("X25519:no-such-curve") }
    }
}
