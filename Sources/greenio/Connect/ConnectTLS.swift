import ArgumentParser
import GreenIO

/// The TLS options of the client commands (`greenio connect`, `greenio bench`).
struct ClientTLSOptions: ParsableArguments {
    @Flag(help: "Connect over TLS, verifying the server's certificate against the system's trusted CAs.")
    var tls = false

    @Option(help: ArgumentHelp("Trust the CA certificates in this PEM file instead (needs --tls).", valueName: "file"))
    var cafile: String?

    @Option(help: ArgumentHelp("The name to verify the server's certificate against and send as SNI (default: HOST).",
                               valueName: "name"))
    var servername: String?

    @Flag(help: "Do not verify the server's certificate at all: anyone can impersonate it (prints a warning).")
    var insecure = false

    func validate() throws {
        guard tls || (cafile == nil && servername == nil && !insecure) else {
            throw ValidationError("--cafile, --servername and --insecure need --tls")
        }
        guard !(insecure && cafile != nil) else { throw ValidationError("--insecure and --cafile exclude each other") }
        if let servername, servername.isEmpty { throw ValidationError("--servername must not be empty") }
    }

    /// The client's TLS settings for a server at `host`, or nil without `--tls`. Prints the
    /// `--insecure` warning, as from `greenio COMMAND`.
    /// - Throws: `ConnectFailure` if the CA file or the system trust store cannot be loaded.
    func clientTLS(host: String, command: String = "connect") throws -> ClientTLS? {
        guard tls else { return nil }
        let verification: PeerVerification
        if insecure {
            StandardStreams.printError("greenio \(command): warning: --insecure: the server's certificate is not verified")
            verification = .insecureNoVerification
        } else if let cafile {
            verification = .trustedCertificateFile(cafile)
        } else {
            verification = .systemTrustStore
        }
        do {
            return ClientTLS(context: try TLSContext.client(verification: verification), serverHostname: servername ?? host)
        } catch {
            throw ConnectFailure(description: "cannot load \(cafile.map { "--cafile \($0)" } ?? "the system trust store"): \(error)")
        }
    }
}

/// A failure that ends `greenio connect` before it connects, with the one-line message to print.
struct ConnectFailure: Error, CustomStringConvertible {
    let description: String
}

/// What a TLS `greenio connect` needs: the client context and the name to verify (and send as SNI).
struct ClientTLS: Sendable {
    let context: TLSContext
    let serverHostname: String
}
