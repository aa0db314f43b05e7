import ArgumentParser
import GreenIO

/// `greenio serve`'s TLS options.
struct ServerTLSOptions: ParsableArguments {
    @Flag(help: "Serve over TLS, with --cert and --key or else a self-signed certificate made at start-up.")
    var tls = false

    @Option(help: ArgumentHelp("The certificate chain to present (PEM; needs --tls and --key).", valueName: "file"))
    var cert: String?

    @Option(help: ArgumentHelp("The private key of --cert (PEM).", valueName: "file"))
    var key: String?

    func validate() throws {
        guard (cert == nil) == (key == nil) else { throw ValidationError("--cert and --key must be given together") }
        guard tls || cert == nil else { throw ValidationError("--cert and --key need --tls") }
    }

    /// The server's TLS settings, or nil without `--tls`. Without `--cert`/`--key` the identity is
    /// self-signed for localhost, 127.0.0.1, ::1 and `host`.
    /// - Throws: `ServeFailure` if the files cannot be read or do not make a usable identity.
    func serverTLS(host: String) throws -> ServerTLS? {
        guard tls else { return nil }
        let identity: TLSIdentity
        let context: TLSContext
        do {
            if let cert, let key {
                identity = try TLSIdentity(certificateChainFile: cert, privateKeyFile: key)
            } else {
                let names = ["localhost", "127.0.0.1", "::1"]
                let wildcard = host == "0.0.0.0" || host == "::" || host.isEmpty
                identity = try TLSIdentity.selfSigned(names: names.contains(host) || wildcard ? names : names + [host])
            }
            context = try TLSContext.server(identity: identity)
            return ServerTLS(context: context, fingerprint: try identity.fingerprintSHA256())
        } catch {
            let source = cert.map { "--cert \($0) and --key \(key ?? "")" } ?? "a self-signed certificate"
            throw ServeFailure("cannot use \(source): \(error)")
        }
    }
}

/// What a TLS `greenio serve` needs: the server context and its certificate's fingerprint.
struct ServerTLS: Sendable {
    let context: TLSContext
    /// The leaf certificate's SHA-256 fingerprint, "AB:CD:…", for the start line.
    let fingerprint: String
}

extension TLSSocket {
    /// Wraps a connection accepted by `greenio serve --tls` for the server handshake, which the
    /// session then performs in its own green thread within the first deadline.
    /// - Returns: the TLS socket, or nil if it cannot be made (then the failure is logged as the
    ///   connection's open and close lines, and the socket is closed).
    static func wrapAccepted(_ client: Socket, name: ConnectionName, context: TLSContext) async -> TLSSocket? {
        do {
            try client.setOption(.noDelay, true)
            return try await TLSSocket.wrap(client, context: context, handshake: false)
        } catch {
            client.close()
            StandardStreams.printError("open \(name)")
            StandardStreams.printError("close \(name) (error: \(error))")
            return nil
        }
    }
}
