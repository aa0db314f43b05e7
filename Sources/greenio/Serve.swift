import ArgumentParser

/// `greenio serve`: the line-echo server's command line (see `EchoServer`).
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run a line-echo server: every line received is sent back.",
        discussion: """
            Prints "listening on HOST:PORT" to standard output once ready ("listening on \
            HOST:PORT (tls, sha256 FINGERPRINT)" with --tls) and logs connections to standard \
            error. SIGINT or SIGTERM stop it (exit code 0).
            """)

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on (0 picks a free port).")
    var port = 7878

    @Option(help: ArgumentHelp(
        "Close a connection that has not completed a line within this many seconds of connecting or of its previous line.",
        valueName: "seconds"))
    var timeout: Double?

    @Option(name: .customLong("max-line"), help: ArgumentHelp(
        "Close a connection that sends a line longer than this many bytes, terminator included.",
        valueName: "bytes"))
    var maxLine = 65536

    @OptionGroup var tlsOptions: ServerTLSOptions

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
        guard (1...(1 << 30)).contains(maxLine) else { throw ValidationError("--max-line must be in 1...\(1 << 30)") }
        _ = try CommandLineTimeout.duration(timeout)
    }

    func run() throws {
        let settings = EchoSettings(lineTimeout: try CommandLineTimeout.duration(timeout), maxLine: maxLine)
        do {
            let tls = try tlsOptions.serverTLS(host: host)
            try EchoServer(host: host, port: port, settings: settings, tls: tls).run()
        } catch {
            StandardStreams.printError("greenio serve: \(error)")
            throw ExitCode.failure
        }
    }
}

/// The `--timeout SECONDS` option shared by the commands.
enum CommandLineTimeout {
    /// Converts seconds to a duration: nil stays nil; anything but a positive, finite number of
    /// seconds (at most a year) is a usage error.
    static func duration(_ seconds: Double?) throws -> Duration? {
        guard let seconds else { return nil }
        guard seconds.isFinite, seconds > 0, seconds <= 365 * 86_400 else {
            throw ValidationError("--timeout must be a positive number of seconds (at most one year)")
        }
        return .nanoseconds(Int64((seconds * 1e9).rounded(.up)))
    }
}
