import ArgumentParser

/// `greenio connect`: a line client's command line (see `LineClient`).
struct Connect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connect",
        abstract: "Send standard input to a server and print what comes back.",
        discussion: """
            Standard input and the server's replies are copied concurrently. At the end of \
            standard input the sending side is shut down (over TLS: after a close_notify) and \
            replies are printed until the server closes the connection.
            """)

    @Argument(help: ArgumentHelp("The server's address ([::1]:PORT for IPv6).", valueName: "host:port"))
    var address: Endpoint

    @Option(help: ArgumentHelp("Give up connecting, or waiting for each reply, after this many seconds.",
                               valueName: "seconds"))
    var timeout: Double?

    @OptionGroup var tlsOptions: ClientTLSOptions

    func validate() throws {
        _ = try CommandLineTimeout.duration(timeout)
    }

    func run() throws {
        let failure: String?
        do {
            let tls = try tlsOptions.clientTLS(host: address.host)
            let client = LineClient(endpoint: address, timeout: try CommandLineTimeout.duration(timeout), tls: tls)
            failure = try client.run()
        } catch {
            failure = "\(error)"
        }
        if let failure {
            StandardStreams.printError("greenio connect: \(failure)")
            throw ExitCode.failure
        }
    }
}
