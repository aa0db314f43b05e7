import ArgumentParser
import GreenIORESP

/// What `greenio serve` speaks.
enum ServeProtocol: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// Every line received is sent back.
    case echo
    /// A small Redis (RESP2) server with an in-memory key space.
    case resp
}

/// `greenio serve`: the server's command line (see `EchoServer`).
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run a line-echo server (every line received is sent back) or a small Redis-protocol server.",
        discussion: """
            Prints "listening on HOST:PORT" to standard output once ready ("listening on \
            HOST:PORT (tls, sha256 FINGERPRINT)" with --tls) and logs connections to standard \
            error (with --hubs N > 1, "hub=K" names the hub serving each). SIGINT or SIGTERM stop \
            it (exit code 0) after "connections per hub: hub0=A …" on standard error. Out of \
            descriptors (or memory), it logs "accept failed: …" once, retries every 0.1 s while \
            serving the open connections, and logs "accepting again …" when it can.
            --protocol resp answers Redis commands (PING ECHO SET GET DEL EXISTS INCR DECR MGET \
            MSET DBSIZE FLUSHALL QUIT COMMAND CONFIG GET), multibulk or inline, pipelined; the \
            keys live in memory, shared by all connections.
            """)

    @Option(name: .customLong("protocol"), help: "What to speak: echo or resp (Redis RESP2).")
    var serveProtocol = ServeProtocol.echo

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on (0 picks a free port).")
    var port = 7878

    @Option(help: ArgumentHelp(
        "Close a connection that has not completed a line (a command, with --protocol resp) within this many seconds of connecting or of its previous one.",
        valueName: "seconds"))
    var timeout: Double?

    @Option(name: .customLong("max-line"), help: ArgumentHelp(
        "Close a connection that sends a line longer than this many bytes, terminator included.",
        valueName: "bytes"))
    var maxLine = 65536

    @Option(name: .customLong("max-bulk"), help: ArgumentHelp(
        "With --protocol resp: the longest bulk string accepted (default 512 MiB); a longer one is a protocol error.",
        valueName: "bytes"))
    var maxBulk: Int?

    @Option(help: ArgumentHelp(
        "Serve on this many hubs (threads), each accepting on its own SO_REUSEPORT listener.",
        valueName: "n"))
    var hubs = 1

    @OptionGroup var tlsOptions: ServerTLSOptions

    /// Redis's default limit on a bulk string.
    static let defaultMaxBulk = 512 << 20

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
        guard (1...(1 << 30)).contains(maxLine) else { throw ValidationError("--max-line must be in 1...\(1 << 30)") }
        guard (1...256).contains(hubs) else { throw ValidationError("--hubs must be in 1...256") }
        if let maxBulk {
            guard serveProtocol == .resp else { throw ValidationError("--max-bulk needs --protocol resp") }
            guard (1...(1 << 40)).contains(maxBulk) else { throw ValidationError("--max-bulk must be in 1...\(1 << 40)") }
        }
        _ = try CommandLineTimeout.duration(timeout)
    }

    func run() throws {
        let settings = EchoSettings(lineTimeout: try CommandLineTimeout.duration(timeout), maxLine: maxLine)
        let resp = serveProtocol == .resp
            ? RESPSettings(maxBulk: maxBulk ?? Self.defaultMaxBulk, commands: RESPCommands(store: RESPStore()))
            : nil
        do {
            let tls = try tlsOptions.serverTLS(host: host)
            try EchoServer(host: host, port: port, settings: settings, tls: tls, resp: resp, hubs: hubs).run()
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
