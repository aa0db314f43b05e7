import ArgumentParser
import GreenIO
import GreenIOServer

/// `greenio serve`'s TLS options.
struct ServerTLSOptions: ParsableArguments {
    @Flag(help: "Serve over TLS, with --cert and --key or else a self-signed certificate made at start-up.")
    var tls = false

    @Option(help: ArgumentHelp("The certificate chain to present (PEM; needs --tls and --key).", valueName: "file"))
    var cert: String?

    @Option(help: ArgumentHelp("The private key of --cert (PEM).", valueName: "file"))
    var key: String?

    @Option(name: .customLong("sni"), help: ArgumentHelp(
        "Another identity, for clients that ask for NAME (an exact name or *.domain) with SNI: NAME=CERT,KEY (PEM files); repeat for more. Other clients get --cert/--key.",
        valueName: "name=cert,key"))
    var serverNames: [String] = []

    @Option(name: .customLong("client-ca"), help: ArgumentHelp(
        "Ask clients for a certificate and verify it against the CA certificates in this PEM file; the log names each client's subject.",
        valueName: "file"))
    var clientCA: String?

    @Option(name: .customLong("client-cert"), help: ArgumentHelp(
        "With --client-ca: required (refuse clients without a certificate, the default) or optional.",
        valueName: "required|optional"))
    var clientCertificate = ClientCertificateOption.required

    @Flag(name: .customLong("no-session-tickets"), help: "Issue no TLS session tickets (on by default, with in-memory keys rotated hourly).")
    var noSessionTickets = false

    @Flag(name: .customLong("no-session-cache"), help: "Keep no TLS sessions in the server's cache (on by default).")
    var noSessionCache = false

    @Option(name: .customLong("tls-profile"), help: ArgumentHelp(
        "intermediate (TLS 1.2 with ECDHE and AEAD ciphers only, and TLS 1.3), modern (TLS 1.3 only) or openssl-defaults (not recommended).",
        valueName: "profile"))
    var profile = TLSProfileOption.intermediate

    func validate() throws {
        guard (cert == nil) == (key == nil) else { throw ValidationError("--cert and --key must be given together") }
        guard tls || cert == nil else { throw ValidationError("--cert and --key need --tls") }
        guard tls || profile == .intermediate else { throw ValidationError("--tls-profile needs --tls") }
        guard tls || serverNames.isEmpty else { throw ValidationError("--sni needs --tls") }
        guard tls || clientCA == nil else { throw ValidationError("--client-ca needs --tls") }
        guard tls || !(noSessionTickets || noSessionCache) else { throw ValidationError("--no-session-tickets and --no-session-cache need --tls") }
        guard clientCA != nil || clientCertificate == .required else { throw ValidationError("--client-cert needs --client-ca") }
        for entry in serverNames where Self.parseServerName(entry) == nil {
            throw ValidationError("--sni \(entry): expected NAME=CERT,KEY")
        }
    }

    /// The server's TLS settings, or nil without `--tls`. Without `--cert`/`--key` the identity is
    /// self-signed for localhost, 127.0.0.1, ::1 and `host`.
    /// - Throws: `ServerError` if the self-signed identity or the ticket keys cannot be made.
    func serverTLS(host: String) throws -> ServerTLSSettings? {
        guard tls else { return nil }
        let identity: ServerTLSSettings.Identity
        if let cert, let key {
            identity = .files(certificateChain: cert, privateKey: key)
        } else {
            let names = ["localhost", "127.0.0.1", "::1"]
            let wildcard = host == "0.0.0.0" || host == "::" || host.isEmpty
            do {
                identity = .identity(try TLSIdentity.selfSigned(names: names.contains(host) || wildcard ? names : names + [host]))
            } catch {
                throw ServerError("cannot make a self-signed certificate: \(error)")
            }
        }
        var settings = try ServerTLSSettings(identity: identity)
        settings.serverNames = serverNames.compactMap { entry in
            Self.parseServerName(entry).map { ServerTLSSettings.ServerName(name: $0.name, certificateChainFile: $0.certificate,
                                                                            privateKeyFile: $0.key) }  // validate() checked.
        }
        settings.clientCAFile = clientCA
        settings.clientCertificate = clientCertificate == .required ? .required : .optional
        settings.profile = profile.profile
        if noSessionTickets { settings.resumption.ticketKeys = nil }
        settings.resumption.cache = !noSessionCache
        return settings
    }
}

extension ServerTLSOptions {
    /// NAME=CERT,KEY split into its three parts; nil when a part is missing.
    static func parseServerName(_ entry: String) -> (name: String, certificate: String, key: String)? {
        guard let equals = entry.firstIndex(of: "="), let comma = entry[equals...].firstIndex(of: ",") else { return nil }
        let name = String(entry[..<equals])
        let certificate = String(entry[entry.index(after: equals)..<comma])
        let key = String(entry[entry.index(after: comma)...])
        return name.isEmpty || certificate.isEmpty || key.isEmpty ? nil : (name, certificate, key)
    }
}

/// `--client-cert`'s values.
enum ClientCertificateOption: String, ExpressibleByArgument, CaseIterable, Sendable {
    case required
    case optional
}

/// `--tls-profile`'s values.
enum TLSProfileOption: String, ExpressibleByArgument, CaseIterable, Sendable {
    case intermediate
    case modern
    case opensslDefaults = "openssl-defaults"

    var profile: TLSProfile {
        switch self {
        case .intermediate: return .intermediate
        case .modern: return .modern
        case .opensslDefaults: return .openSSLDefaults
        }
    }
}

