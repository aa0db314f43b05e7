import GreenIO

/// A TLS server's settings in a form that can be loaded again: the identity (PEM files, or one in
/// memory), identities by server name (SNI), client-certificate verification, the profile and
/// session resumption. `makeContext()` builds a `TLSContext` from them; `Server.reloadTLS(from:)`
/// builds a new one and swaps it in while the server runs (a renewed certificate on SIGHUP).
public struct ServerTLSSettings: Sendable {
    /// Where the identity comes from.
    public enum Identity: Sendable {
        /// A certificate chain and its private key in PEM files, read by every `makeContext()`.
        case files(certificateChain: String, privateKey: String)
        /// An identity in memory (a self-signed one, say): the same at every load.
        case identity(TLSIdentity)
    }

    /// Another identity, for clients that ask for `name` with SNI (`TLSContext.addServerName`).
    public struct ServerName: Sendable {
        /// An exact name or a "*." wildcard.
        public var name: String
        /// The certificate chain PEM file.
        public var certificateChainFile: String
        /// The private key PEM file.
        public var privateKeyFile: String

        /// An identity for `name`, read from the two PEM files whenever `makeContext()` runs.
        public init(name: String, certificateChainFile: String, privateKeyFile: String) {
            self.name = name
            self.certificateChainFile = certificateChainFile
            self.privateKeyFile = privateKeyFile
        }
    }

    /// The default identity (clients without SNI, or with a name not in `serverNames`).
    public var identity: Identity
    /// Identities chosen by server name.
    public var serverNames: [ServerName] = []
    /// The CA certificates (a PEM file) client certificates are verified against; nil asks for none.
    public var clientCAFile: String?
    /// With `clientCAFile`: whether a client without a certificate is refused.
    public var clientCertificate = ClientCertificateRequirement.required
    /// The versions, suites and groups (`TLSProfile`).
    public var profile = TLSProfile.intermediate
    /// Tickets and the session cache. Keep one `TLSSessionTicketKeys` here for the server's life:
    /// every context built from these settings then shares it, and tickets survive a reload.
    public var resumption: TLSSessionResumption

    /// Settings for `identity`, with tickets under keys of their own and the session cache.
    /// - Throws: `IOError` `.tls` if the ticket keys cannot be made.
    public init(identity: Identity) throws {
        self.identity = identity
        resumption = try .enabled()
    }

    /// Whether `makeContext()` reads files (so a reload can change something).
    public var readsFiles: Bool {
        if case .files = identity { return true }
        return !serverNames.isEmpty
    }

    /// Builds the server context: loads the identity (reading its files now), the SNI identities and
    /// the client CAs.
    /// - Returns: the context and the SHA-256 fingerprint of the default identity's certificate.
    /// - Throws: `ServerError` naming the file or server name that failed (missing, not PEM, a key
    ///   that does not match its certificate).
    public func makeContext() throws -> (context: TLSContext, fingerprint: String) {
        let loaded: TLSIdentity
        switch identity {
        case .identity(let identity):
            loaded = identity
        case .files(let certificateChain, let privateKey):
            do {
                loaded = try TLSIdentity(certificateChainFile: certificateChain, privateKeyFile: privateKey)
            } catch {
                throw ServerError("cannot use \(certificateChain) and \(privateKey): \(error)")
            }
        }
        let context = try serverContext(for: loaded, what: "the certificate")
        for entry in serverNames {
            do {
                let named = try TLSIdentity(certificateChainFile: entry.certificateChainFile, privateKeyFile: entry.privateKeyFile)
                try context.addServerName(entry.name, context: try serverContext(for: named, what: entry.name))
            } catch let error as ServerError {
                throw error
            } catch {
                throw ServerError("server name \(entry.name): \(error)")
            }
        }
        do {
            return (context, try loaded.fingerprintSHA256())
        } catch {
            throw ServerError("cannot fingerprint the certificate: \(error)")
        }
    }

    /// One server context for `identity` with these settings' verification, profile and resumption.
    private func serverContext(for identity: TLSIdentity, what: String) throws -> TLSContext {
        do {
            return try TLSContext.server(identity: identity,
                                         clientVerification: clientCAFile.map { .trustedCertificateFile($0) },
                                         clientCertificate: clientCertificate, resumption: resumption, profile: profile)
        } catch {
            throw ServerError("cannot use \(what): \(error)")
        }
    }
}

extension Server {
    /// Builds a new context from `settings` (reading their files again) and gives it to the
    /// connections accepted from now on (`replaceTLSContext`); open connections keep theirs. On any
    /// failure — a missing file, bad PEM, a key that does not match — the server keeps its
    /// context. Logs "reloaded the certificate: sha256 …" or "reload failed, keeping the current
    /// certificate: …".
    /// - Returns: the new certificate's SHA-256 fingerprint.
    /// - Throws: `ServerError` for what failed (already logged).
    @discardableResult
    public func reloadTLS(from settings: ServerTLSSettings) throws -> String {
        do {
            let (context, fingerprint) = try settings.makeContext()
            try replaceTLSContext(context)
            configuration.logger.notice("reloaded the certificate: sha256 \(fingerprint)")
            return fingerprint
        } catch {
            configuration.logger.error("reload failed, keeping the current certificate: \(error)")
            throw error
        }
    }
}
