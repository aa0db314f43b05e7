import GreenIO

/// A connected pair of raw sockets for the measuring subcommands: a Unix socketpair, or the same
/// wrapped in TLS 1.3 (self-signed identity, one TLS_AES_128_GCM_SHA256 suite for every run).
enum BenchPair {
    /// Makes the pair; with `tls`, both handshakes run (the server's in its own green thread).
    /// - Throws: `IOError` if the sockets, the identity or a handshake fail.
    static func make(tls: Bool) async throws -> (any RawSocket, any RawSocket) {
        let (a, b) = try Socket.pair()
        guard tls else { return (a, b) }
        let identity = try TLSIdentity.selfSigned()
        let server = try TLSContext.server(identity: identity)
        let client = try TLSContext.client(verification: .trustedCertificatesPEM(identity.certificateChainPEM))
        for context in [server, client] {
            try context.setMinimumVersion(.tls1_3)
            try context.setCipherSuites("TLS_AES_128_GCM_SHA256")
        }
        guard let hub = Hub.current else { throw IOError(.notOnHub, "no hub") }
        let serverSide = hub.spawn { try await TLSSocket.wrap(b, context: server) }
        let clientSide = try await TLSSocket.wrap(a, context: client, serverHostname: "localhost")
        return (clientSide, try await serverSide.value)
    }
}
