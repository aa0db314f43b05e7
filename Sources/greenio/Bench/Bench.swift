import ArgumentParser

/// `greenio bench`: a load generator for `greenio serve`'s line echo (see `LoadGenerator`).
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Load a line-echo server and check every echoed line.",
        discussion: """
            Each connection (a green thread; all on one hub) sends a batch of lines with one \
            write, reads the echo back, checks it byte for byte against what it sent (every line \
            carries its connection's and its own sequence number), and repeats. After the warm-up \
            (checked, not counted) a progress line goes to standard error every second; at the \
            end the summary goes to standard output: lines/s, MB/s, the batch round trip's p50 \
            and p99, this process's CPU time as a share of the measured time, errors and \
            mismatches. The exit code is 0 only without errors and mismatches.

            With --churn each connection instead connects (with the TLS handshake), sends one \
            line, checks its echo and closes, again and again: the summary gives connections/s, \
            the connect-to-echo p50 and p99, and with --tls the share of connections that resumed \
            a session (every handshake is a full one unless --resume offers each connection the \
            session of the one before; a --resume run in which none resumed fails).
            """)

    @Argument(help: ArgumentHelp("The server's address ([::1]:PORT for IPv6).", valueName: "host:port"))
    var address: Endpoint

    @Option(help: ArgumentHelp("Connections, each a green thread.", valueName: "count"))
    var conns = 1

    @Option(help: ArgumentHelp("Lines in flight per connection (sent with one write).", valueName: "lines"))
    var batch = 1

    @Option(help: ArgumentHelp("Bytes per line, the \\n included (at least \(BenchBatch.minimumLineLength); up to 256 KiB a batch, or 16 MiB with --batch 1).",
                               valueName: "bytes"))
    var len = 64

    @Option(help: ArgumentHelp("Seconds to measure.", valueName: "seconds"))
    var secs = 5.0

    @Option(help: ArgumentHelp("Seconds of warm-up before measuring (echoes checked, not counted).",
                               valueName: "seconds"))
    var warmup = 1.0

    @Option(help: ArgumentHelp("Give up connecting, or waiting for a batch's echo, after this many seconds.",
                               valueName: "seconds"))
    var timeout = 10.0

    @Flag(help: "Connection churn: each connection connects, echoes one line and closes, in a loop (--batch must be 1).")
    var churn = false

    @Flag(help: "With --churn --tls: offer each connection the session of the one before, so the server may resume it.")
    var resume = false

    @OptionGroup var tlsOptions: ClientTLSOptions

    /// The most bytes a batch may have: a connection writes its whole batch before it reads any
    /// echo, so a batch must fit in the socket buffers between the two ends, or both would wait
    /// for ever (a server that echoes as it reads stops reading once its replies cannot go out).
    static let maximumBatchBytes = 256 * 1024
    /// The longest line with `--batch 1`: a line server reads a whole line before it echoes any
    /// of it, so one line of any length cannot wait for ever as a batch can; 16 MiB bounds the
    /// memory both ends hold.
    static let maximumLineBytes = 16 << 20

    func validate() throws {
        guard (1...10_000).contains(conns) else { throw ValidationError("--conns must be in 1...10000") }
        guard (1...Self.maximumBatchBytes).contains(batch) else {
            throw ValidationError("--batch must be in 1...\(Self.maximumBatchBytes)")
        }
        guard (BenchBatch.minimumLineLength...Self.maximumLineBytes).contains(len) else {
            throw ValidationError("--len must be in \(BenchBatch.minimumLineLength)...\(Self.maximumLineBytes)")
        }
        guard batch == 1 || batch * len <= Self.maximumBatchBytes else {
            throw ValidationError("--batch × --len must be at most \(Self.maximumBatchBytes) bytes (one line of up to \(Self.maximumLineBytes) with --batch 1)")
        }
        guard secs.isFinite, secs > 0, secs <= 86_400 else { throw ValidationError("--secs must be in (0, 86400]") }
        guard warmup.isFinite, warmup >= 0, warmup <= 86_400 else { throw ValidationError("--warmup must be in [0, 86400]") }
        guard timeout.isFinite, timeout > 0, timeout <= 86_400 else { throw ValidationError("--timeout must be in (0, 86400]") }
        guard !churn || batch == 1 else { throw ValidationError("--churn sends one line per connection: no --batch") }
        guard !resume || (churn && tlsOptions.tls) else { throw ValidationError("--resume needs --churn and --tls") }
    }

    func run() throws {
        let summary: [String]
        let failure: String?
        do {
            let settings = BenchSettings(
                endpoint: address, tls: try tlsOptions.clientTLS(host: address.host, command: "bench"),
                connections: conns, batch: batch, lineLength: len, warmup: warmup, measured: secs, timeout: timeout)
            if churn {
                let report = try ChurnGenerator(settings: settings, resume: resume).run()
                (summary, failure) = (report.summary, report.failureMessage)
            } else {
                switch try LoadGenerator(settings: settings).run() {
                case .couldNotConnect(let message): (summary, failure) = ([], message)
                case .ran(let report): (summary, failure) = (report.summary, report.failureMessage)
                }
            }
        } catch {
            (summary, failure) = ([], "\(error)")
        }
        for line in summary { StandardStreams.printLine(line) }
        if let failure {
            StandardStreams.printError("greenio bench: \(failure)")
            throw ExitCode.failure
        }
    }
}
