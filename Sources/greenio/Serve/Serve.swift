import ArgumentParser
import GreenIO
import GreenIORESP
import GreenIOServer
import Logging

/// What `greenio serve` speaks.
enum ServeProtocol: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// Every line received is sent back.
    case echo
    /// A small Redis (RESP2) server with an in-memory key space.
    case resp
}

/// How `greenio serve --hubs N` spreads connections (`AcceptBalancing`).
enum ServeBalance: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// Each hub accepts on its own SO_REUSEPORT listener; the kernel's hash picks the hub.
    case hash
    /// Hub 0 accepts and hands each connection to the hub serving the fewest.
    case leastConnections = "least-connections"

    var acceptBalancing: AcceptBalancing {
        switch self {
        case .hash: .kernelHash
        case .leastConnections: .leastConnections
        }
    }
}

/// `--log-level` takes swift-log's level names (`Logger.Level`'s raw values).
extension Logger.Level: @retroactive ExpressibleByArgument {}

/// `greenio serve`: a `GreenIOServer.Server` with the echo or the RESP handler.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run a line-echo server (every line received is sent back) or a small Redis-protocol server.",
        discussion: """
            Prints "listening on HOST:PORT" to standard output once ready ("listening on \
            HOST:PORT (tls, sha256 FINGERPRINT)" with --tls) and logs to standard error: \
            "open PEER" and "close PEER (REASON)" for each connection (with --hubs N > 1, \
            "hub=K" names the hub serving it). SIGINT or SIGTERM close the listeners, give open \
            connections --drain seconds to finish, close the rest, and exit with code 0 after \
            "connections per hub: hub0=A …" (connections each hub served). SIGHUP reads --cert and --key again: new \
            connections get the new certificate ("reloaded the certificate: sha256 …"), open ones \
            keep theirs, and files that do not load change nothing ("reload failed, keeping the \
            current certificate: …"). Out of descriptors (or memory), it logs "accept \
            failed: …" once, retries every 0.1 s while serving the open connections, and logs \
            "accepting again …" when it can. At --max-connections it stops accepting: new \
            clients wait in the listen backlog.
            --protocol resp answers Redis commands (PING ECHO SET GET DEL EXISTS INCR DECR MGET \
            MSET DBSIZE FLUSHALL QUIT COMMAND CONFIG GET), multibulk or inline, pipelined; the \
            keys live in memory, shared by all connections.
            Behind a load balancer, --proxy-protocol makes every connection start with a PROXY \
            protocol header (v1 or v2, before the TLS handshake with --tls); the open line then \
            names the client and the balancer: "open CLIENT (via BALANCER)". A connection \
            without a valid header, or from a peer outside --proxy-trusted, is closed without \
            a reply ("close PEER (proxy header KIND: …)").
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
        "Serve on this many hubs (threads), each accepting on its own SO_REUSEPORT listener (see --balance).",
        valueName: "n"))
    var hubs = 1

    @Option(name: .customLong("log-level"), help: ArgumentHelp(
        "The least severe level logged: trace, debug, info (the default: a line per connection opened and closed), notice (start, stop and failures only), warning, error or critical.",
        valueName: "level"))
    var logLevel = Logger.Level.info

    @Option(help: ArgumentHelp(
        "With --hubs N > 1: hash (each hub accepts; the kernel picks by a hash of the connection) or least-connections (hub 0 accepts and hands each connection to the hub serving the fewest).",
        valueName: "mode"))
    var balance = ServeBalance.hash

    @Option(help: ArgumentHelp(
        "After SIGINT or SIGTERM, how long open connections may go on before they are closed.",
        valueName: "seconds"))
    var drain: Double = 10

    @Option(name: .customLong("max-connections"), help: ArgumentHelp(
        "Serve at most this many connections at once; more wait in the listen backlog.",
        valueName: "n"))
    var maxConnections = 10_000

    @Flag(name: .customLong("proxy-protocol"), help: ArgumentHelp(
        "Require a PROXY protocol header (v1 or v2) at the start of every connection, as HAProxy's send-proxy or nginx's proxy_protocol sends it."))
    var proxyProtocol = false

    @Option(name: .customLong("proxy-trusted"), help: ArgumentHelp(
        "With --proxy-protocol: an address or CIDR block (10.0.0.0/8, ::1) allowed to send headers; repeat for more. Without one, any peer may (a warning at start).",
        valueName: "cidr"))
    var proxyTrusted: [String] = []

    @OptionGroup var tlsOptions: ServerTLSOptions

    /// Redis's default limit on a bulk string.
    static let defaultMaxBulk = 512 << 20

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
        guard (1...(1 << 30)).contains(maxLine) else { throw ValidationError("--max-line must be in 1...\(1 << 30)") }
        guard (1...256).contains(hubs) else { throw ValidationError("--hubs must be in 1...256") }
        guard drain.isFinite, (0...86_400).contains(drain) else { throw ValidationError("--drain must be in 0...86400 seconds") }
        guard (1...10_000_000).contains(maxConnections) else { throw ValidationError("--max-connections must be in 1...10000000") }
        if let maxBulk {
            guard serveProtocol == .resp else { throw ValidationError("--max-bulk needs --protocol resp") }
            guard (1...(1 << 40)).contains(maxBulk) else { throw ValidationError("--max-bulk must be in 1...\(1 << 40)") }
        }
        _ = try CommandLineTimeout.duration(timeout)
        if !proxyTrusted.isEmpty && !proxyProtocol { throw ValidationError("--proxy-trusted needs --proxy-protocol") }
        for block in proxyTrusted {
            do { _ = try IPNetwork(block) } catch { throw ValidationError("--proxy-trusted: \(error)") }
        }
    }

    func run() throws {
        let lineTimeout = try CommandLineTimeout.duration(timeout)
        LoggingSystem.bootstrap { label in ServeLogHandler(showsHub: hubs > 1, logLevel: logLevel) }
        do {
            let tlsSettings = try tlsOptions.serverTLS(host: host)
            let tls = try tlsSettings?.makeContext()
            var configuration = ServerConfiguration(host: host, port: port, tls: tls?.context)
            configuration.hubs = hubs
            configuration.acceptBalancing = balance.acceptBalancing
            configuration.policy.lineTimeout = lineTimeout
            configuration.policy.maxLineLength = maxLine
            configuration.policy.maxConnections = maxConnections
            configuration.policy.drainPeriod = .nanoseconds(Int64((drain * 1e9).rounded()))
            if proxyProtocol {
                configuration.proxyProtocol = ProxyProtocolConfiguration(
                    trustedSources: proxyTrusted.isEmpty ? nil : try proxyTrusted.map(IPNetwork.init))
            }
            let handler = try makeHandler()
            let server = try Server(configuration: configuration, handler: handler)
            defer {
                let counts = server.servedCountPerHub.enumerated().map { "hub\($0.offset)=\($0.element)" }
                if !counts.isEmpty { StandardStreams.printError("connections per hub: " + counts.joined(separator: " ")) }
            }
            try server.run(whenListening: { server in
                let address = server.localAddresses.first.map(\.description) ?? "?"
                StandardStreams.printLine("listening on \(address)" + (tls.map { " (tls, sha256 \($0.fingerprint))" } ?? ""))
            }, onHangUp: { server in
                // SIGHUP: the files again for new connections (ServerTLSSettings); bad files change nothing.
                guard let tlsSettings, tlsSettings.readsFiles else {
                    return StandardStreams.printError(
                        "nothing to reload: " + (tlsSettings == nil ? "no --tls" : "the certificate is self-signed (no --cert/--key)"))
                }
                _ = try? server.reloadTLS(from: tlsSettings)  // Logged either way.
            })
        } catch {
            StandardStreams.printError("greenio serve: \(error)")
            throw ExitCode.failure
        }
    }

    /// The echo handler, or the RESP handler on a new key space.
    private func makeHandler() throws -> ServerConnectionHandler {
        switch serveProtocol {
        case .echo:
            return EchoHandler.serve
        case .resp:
            let resp = RESPHandler(maxBulk: maxBulk ?? Self.defaultMaxBulk, commands: RESPCommands(store: RESPStore()))
            return resp.serve
        }
    }
}
