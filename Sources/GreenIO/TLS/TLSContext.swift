import COpenSSL
import Glibc
import Synchronization

/// A TLS protocol version, for a context's minimum and maximum.
public enum TLSVersion: Sendable, Hashable, CustomStringConvertible {
    /// TLS 1.0, 1.1, 1.2 and 1.3. Contexts refuse versions below 1.2 unless told otherwise.
    case tls1_0, tls1_1, tls1_2, tls1_3

    var openSSLValue: Int32 {
        switch self {
        case .tls1_0: return TLS1_VERSION
        case .tls1_1: return TLS1_1_VERSION
        case .tls1_2: return TLS1_2_VERSION
        case .tls1_3: return TLS1_3_VERSION
        }
    }

    /// OpenSSL's name: "TLSv1.2", "TLSv1.3", …
    public var description: String {
        switch self {
        case .tls1_0: return "TLSv1"
        case .tls1_1: return "TLSv1.1"
        case .tls1_2: return "TLSv1.2"
        case .tls1_3: return "TLSv1.3"
        }
    }
}

/// Whether a server that verifies client certificates refuses a client that sends none.
public enum ClientCertificateRequirement: Sendable, Hashable {
    /// A client without a certificate is refused during the handshake.
    case required
    /// A client without a certificate is served (one that sends an invalid certificate is still
    /// refused); the handler sees no subject.
    case optional
}

/// How a TLS client checks the server's certificate (or a server its clients' certificates).
public enum PeerVerification: Sendable, Hashable {
    /// Trust the system's CA store (the default for clients).
    case systemTrustStore
    /// Trust the CA certificates in this PEM file.
    case trustedCertificateFile(String)
    /// Trust the CA certificates in this OpenSSL-hashed directory.
    case trustedCertificateDirectory(String)
    /// Trust these PEM-encoded CA certificates (for example a `TLSIdentity`'s certificate).
    case trustedCertificatesPEM(String)
    /// No verification at all: anyone can impersonate the peer. For tests and for `--insecure`
    /// only; the name says so on purpose.
    case insecureNoVerification
}

/// Settings shared by many TLS connections: CPython's `ssl.SSLContext`.
///
/// A client context (``TLSContext/client(verification:identity:profile:)``) verifies the server's
/// certificate and host name by default; a server context
/// (``TLSContext/server(identity:clientVerification:clientCertificate:resumption:profile:)``)
/// presents a ``TLSIdentity``. Both follow a ``TLSProfile`` and refuse protocol versions below
/// TLS 1.2 unless told otherwise.
/// Configure a context before making sockets with it; it is then read-only and may be shared by any
/// number of sockets and hubs.
public final class TLSContext: @unchecked Sendable {
    /// Which end of the connection the context is for.
    public enum Role: Sendable {
        /// Connects, verifies the server and sends SNI (``TLSContext/client(verification:identity:profile:)``).
        case client
        /// Accepts, presents a ``TLSIdentity`` (``TLSContext/server(identity:clientVerification:clientCertificate:resumption:profile:)``).
        case server
    }

    /// The end this context is for.
    public let role: Role
    /// Whether the peer's certificate is verified.
    public private(set) var verifiesPeer: Bool
    /// Whether a client checks the server's certificate against the name it connects to (on
    /// whenever a client verifies the server).
    public var checksHostname: Bool { role == .client && verifiesPeer }

    let context: OpaquePointer
    /// Client sessions to resume, by server name.
    private let sessions = Mutex<[String: TLSClientSession]>([:])
    /// Whether a client context remembers sessions (`remembersSessions`); an atomic because sockets
    /// on any hub read it.
    private let remembering = Atomic<Bool>(true)
    /// The server's ALPN list in the select callback's format; lives as long as the context.
    private var alpnSelectList: UnsafeMutablePointer<UInt8>?
    /// Server contexts by server name ("mail.example.com", "*.example.com"), chosen by the SNI
    /// callback (`addServerName`); set while configuring, read-only afterwards.
    var serverNames: [String: TLSContext] = [:]
    /// The session-ticket keys and the C source that points at them, for a server with tickets.
    var ticketResources: (keys: TLSSessionTicketKeys, source: UnsafeMutablePointer<greenio_ticket_source>)?

    private init(role: Role) throws {
        OpenSSLErrors.clear()
        guard let context = SSL_CTX_new(role == .client ? TLS_client_method() : TLS_server_method()) else {
            throw OpenSSLErrors.error("SSL_CTX_new failed")
        }
        self.context = context
        self.role = role
        verifiesPeer = false
        _ = greenio_SSL_CTX_set_options(context, greenio_SSL_OP_NO_RENEGOTIATION() | greenio_SSL_OP_NO_COMPRESSION())
        try setMinimumVersion(.tls1_2)
    }

    deinit {
        SSL_CTX_free(context)
        alpnSelectList?.deallocate()
        ticketResources?.source.deallocate()
    }

    /// Whether this client context remembers the session of the last closed connection to each
    /// server name and offers it to the next connection to that name (true, the default; only
    /// connections made with a `serverHostname` take part). Set it to false to offer only the
    /// sessions passed explicitly (`TLSSocket.wrap(_:context:serverHostname:session:…)`) — when the
    /// application keeps its own sessions, or to measure full handshakes. Turning it off forgets
    /// the sessions remembered so far. Has no effect on server contexts.
    public var remembersSessions: Bool {
        get { remembering.load(ordering: .relaxed) }
        set {
            remembering.store(newValue, ordering: .relaxed)
            if !newValue { sessions.withLockTraced(by: self) { cached in cached.removeAll() } }
        }
    }

    /// Remembers the session of a client connection to `name`, for the next connection to resume.
    func remember(_ ssl: OpaquePointer, for name: String) {
        guard role == .client, remembersSessions, let session = TLSClientSession(resumableFrom: ssl) else { return }
        // The replaced session is released outside the lock.
        _ = sessions.withLockTraced(by: self) { cached in cached.updateValue(session, forKey: name) }
    }

    /// Offers the remembered session for `name`, if any, to a new client connection.
    func resume(_ ssl: OpaquePointer, for name: String) {
        guard remembersSessions else { return }
        sessions.withLockTraced(by: self) { cached in cached[name]?.offer(on: ssl) }
    }

    /// A client context. Verification is on unless `verification` is `.insecureNoVerification`;
    /// `identity` is the client certificate to present to servers that ask for one; versions,
    /// cipher suites and groups follow `profile` (Mozilla's "intermediate" by default).
    /// - Throws: `IOError` `.tls` if the trust store cannot be loaded, or `identity` does not load.
    public static func client(verification: PeerVerification = .systemTrustStore, identity: TLSIdentity? = nil,
                              profile: TLSProfile = .intermediate) throws -> TLSContext {
        let context = try TLSContext(role: .client)
        try context.apply(profile)
        if let identity { try context.use(identity) }
        try context.setVerification(verification)
        _ = greenio_SSL_CTX_set_session_cache_mode(context.context, greenio_SSL_SESS_CACHE_CLIENT())
        return context
    }

    /// A server context presenting `identity`.
    /// - Parameters:
    ///   - identity: the certificate chain and private key the server presents.
    ///   - clientVerification: nil (the default) asks clients for no certificate; a value
    ///     asks for one and verifies it against those CAs: a client whose certificate does not
    ///     verify is refused during the handshake.
    ///   - clientCertificate: with `clientVerification`, whether a client without a certificate
    ///     is refused (`.required`, the default) or served (`.optional`).
    ///   - resumption: session tickets and the session cache; nil (the default) for both, with
    ///     ticket keys of this context's own (`TLSSessionResumption.enabled()`).
    ///   - profile: the versions, cipher suites and groups accepted: Mozilla's "intermediate"
    ///     server profile by default (`TLSProfile`).
    /// - Throws: `IOError` `.tls` if the identity does not load or the key does not match.
    public static func server(identity: TLSIdentity, clientVerification: PeerVerification? = nil,
                              clientCertificate: ClientCertificateRequirement = .required,
                              resumption: TLSSessionResumption? = nil,
                              profile: TLSProfile = .intermediate) throws -> TLSContext {
        let context = try TLSContext(role: .server)
        try context.apply(profile)
        try context.use(identity)
        if let clientVerification {
            try context.setVerification(clientVerification, requiringCertificate: clientCertificate == .required)
        }
        try context.configure(try resumption ?? .enabled())
        return context
    }

    private func use(_ identity: TLSIdentity) throws {
        let certificates = try PEM.certificates(identity.certificateChainPEM)
        defer { certificates.forEach { X509_free($0) } }
        let key = try PEM.privateKey(identity.privateKeyPEM)
        defer { EVP_PKEY_free(key) }
        guard SSL_CTX_use_certificate(context, certificates[0]) == 1 else { throw OpenSSLErrors.error("cannot use the certificate") }
        for intermediate in certificates.dropFirst() {
            // The context takes ownership of an extra chain certificate: hand it a reference of its own.
            X509_up_ref(intermediate)
            guard greenio_SSL_CTX_add_extra_chain_cert(context, intermediate) == 1 else {
                X509_free(intermediate)
                throw OpenSSLErrors.error("cannot add an intermediate certificate")
            }
        }
        guard SSL_CTX_use_PrivateKey(context, key) == 1 else { throw OpenSSLErrors.error("cannot use the private key") }
        guard SSL_CTX_check_private_key(context) == 1 else {
            throw OpenSSLErrors.error("the private key does not match the certificate")
        }
    }

    private func setVerification(_ verification: PeerVerification, requiringCertificate: Bool = true) throws {
        switch verification {
        case .insecureNoVerification:
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
            verifiesPeer = false
            return
        case .systemTrustStore:
            guard SSL_CTX_set_default_verify_paths(context) == 1 else { throw OpenSSLErrors.error("cannot load the system trust store") }
        case .trustedCertificateFile(let path):
            guard SSL_CTX_load_verify_locations(context, path, nil) == 1 else { throw OpenSSLErrors.error("cannot load CA file \(path)") }
        case .trustedCertificateDirectory(let path):
            guard SSL_CTX_load_verify_locations(context, nil, path) == 1 else { throw OpenSSLErrors.error("cannot load CA directory \(path)") }
        case .trustedCertificatesPEM(let pem):
            let certificates = try PEM.certificates(pem)
            defer { certificates.forEach { X509_free($0) } }
            guard let store = SSL_CTX_get_cert_store(context) else { throw OpenSSLErrors.error("no certificate store") }
            for certificate in certificates where X509_STORE_add_cert(store, certificate) != 1 {
                throw OpenSSLErrors.error("cannot add a trusted certificate")
            }
        }
        let mode = role == .server && requiringCertificate ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER
        SSL_CTX_set_verify(context, mode, nil)
        verifiesPeer = true
    }

    /// The lowest protocol version accepted (default TLS 1.2).
    /// - Throws: `IOError` `.tls` if OpenSSL refuses.
    public func setMinimumVersion(_ version: TLSVersion) throws {
        guard greenio_SSL_CTX_set_min_proto_version(context, version.openSSLValue) == 1 else {
            throw OpenSSLErrors.error("cannot set the minimum version \(version)")
        }
    }

    /// The highest protocol version offered (default: the newest OpenSSL supports).
    /// - Throws: `IOError` `.tls` if OpenSSL refuses.
    public func setMaximumVersion(_ version: TLSVersion) throws {
        guard greenio_SSL_CTX_set_max_proto_version(context, version.openSSLValue) == 1 else {
            throw OpenSSLErrors.error("cannot set the maximum version \(version)")
        }
    }

    /// The TLS 1.2 cipher list, in OpenSSL's syntax ("ECDHE+AESGCM").
    /// - Throws: `IOError` `.tls` "No cipher can be selected." style errors from OpenSSL.
    public func setCiphers(_ list: String) throws {
        guard SSL_CTX_set_cipher_list(context, list) == 1 else { throw OpenSSLErrors.error("no cipher matches \(list)") }
    }

    /// The TLS 1.3 cipher suites, colon-separated ("TLS_AES_128_GCM_SHA256").
    /// - Throws: `IOError` `.tls` if none is known.
    public func setCipherSuites(_ list: String) throws {
        guard SSL_CTX_set_ciphersuites(context, list) == 1 else { throw OpenSSLErrors.error("no cipher suite matches \(list)") }
    }

    /// The key-exchange groups (curves) offered or accepted, most preferred first, colon-separated
    /// ("X25519:P-256"). The corresponding C function is `SSL_CTX_set1_groups_list`.
    /// - Throws: `IOError` `.tls` if a name is unknown.
    public func setGroups(_ list: String) throws {
        guard greenio_SSL_CTX_set1_groups_list(context, list) == 1 else { throw OpenSSLErrors.error("unknown group in \(list)") }
    }

    /// The application protocols to negotiate with ALPN, most preferred first ("h2", "http/1.1").
    /// A client offers them; a server picks the first of its own that the client offered.
    /// - Throws: `IOError` `.invalidArgument` for an empty name or one longer than 255 bytes;
    ///   `.tls` if OpenSSL refuses.
    public func setALPNProtocols(_ protocols: [String]) throws {
        var wire: [UInt8] = []
        for name in protocols {
            let bytes = Array(name.utf8)
            guard !bytes.isEmpty, bytes.count <= 255 else { throw IOError.invalidArgument("invalid ALPN protocol name '\(name)'") }
            wire.append(UInt8(bytes.count))
            wire.append(contentsOf: bytes)
        }
        switch role {
        case .client:
            guard SSL_CTX_set_alpn_protos(context, wire, UInt32(wire.count)) == 0 else {
                throw OpenSSLErrors.error("cannot set ALPN protocols")
            }
        case .server:
            let list = UnsafeMutablePointer<UInt8>.allocate(capacity: wire.count + 2)
            list[0] = UInt8(wire.count & 0xFF)
            list[1] = UInt8(wire.count >> 8)
            for (index, byte) in wire.enumerated() { list[index + 2] = byte }
            alpnSelectList?.deallocate()
            alpnSelectList = list
            greenio_SSL_CTX_set_alpn_select(context, list)
        }
    }
}
