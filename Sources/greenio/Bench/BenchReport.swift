/// The outcome of a `greenio bench` run that got connected: throughput, batch round trips, the
/// generator's own CPU share, and the errors and mismatches, as the summary prints them.
struct BenchReport: Sendable {
    let settings: BenchSettings
    /// Lines echoed and checked in the measuring window.
    let lines: Int
    /// Batches completed in the window.
    let batches: Int
    /// The window's wall-clock seconds (0 if the run ended before measuring began).
    let seconds: Double
    /// This process's user + system CPU seconds during the window.
    let cpuSeconds: Double
    /// Batch round-trip percentiles in nanoseconds (nil without batches).
    let p50: Double?
    let p99: Double?
    let errors: Int
    let mismatches: Int
    /// The first error or mismatch.
    let firstFailure: String?

    /// Takes the figures of a finished run.
    init(settings: BenchSettings, recorder: BenchRecorder) {
        self.settings = settings
        lines = recorder.lines
        batches = recorder.roundTrips.total
        seconds = recorder.window?.seconds ?? 0
        cpuSeconds = recorder.window?.cpuSeconds ?? 0
        p50 = recorder.roundTrips.percentile(0.50)
        p99 = recorder.roundTrips.percentile(0.99)
        errors = recorder.errors
        mismatches = recorder.mismatches
        firstFailure = recorder.firstFailure
    }

    /// True if every connection ran to the end with every echo matching.
    var succeeded: Bool { errors == 0 && mismatches == 0 }

    var linesPerSecond: Double { seconds > 0 ? Double(lines) / seconds : 0 }

    /// The summary for standard output, one figure per line.
    var summary: [String] {
        let mode = settings.tls == nil ? "plain" : "tls"
        let megabytes = linesPerSecond * Double(settings.lineLength) / 1e6
        return [
            "bench \(settings.endpoint) \(mode): \(Self.count(settings.connections, "connection")), "
                + "\(Self.count(settings.batch, "line")) in flight each, \(settings.lineLength)-byte lines, "
                + "\(Self.fixed(seconds, 2)) s measured after \(settings.warmup) s warm-up",
            "lines/s: \(Int(linesPerSecond.rounded()))",
            "MB/s: \(Self.fixed(megabytes, 2)) (echoed bytes, 1 MB = 10^6 bytes)",
            "batch round trip: \(percentiles(of: "batch"))",
        ] + closingLines
    }

    /// The round trips' p50 and p99 and how many there were: `p50 0.052 ms, p99 0.210 ms (1234
    /// batches)`, with `unit` naming what was timed.
    func percentiles(of unit: String) -> String {
        guard let p50, let p99 else { return "no \(Self.plural(unit)) measured" }
        return "p50 \(Self.milliseconds(p50)) ms, p99 \(Self.milliseconds(p99)) ms (\(Self.count(batches, unit)))"
    }

    /// The summary's last lines, the same for every kind of run: the client's CPU share, errors and mismatches.
    var closingLines: [String] {
        let cpuShare = seconds > 0 ? cpuSeconds / seconds * 100 : 0
        return [
            "client CPU: \(Self.fixed(cpuSeconds, 2)) s in \(Self.fixed(seconds, 2)) s (\(Self.fixed(cpuShare, 0))% of one core)",
            "errors: \(errors)",
            "mismatches: \(mismatches)",
        ]
    }

    /// The one-line message for standard error when the run failed.
    var failureMessage: String? {
        guard !succeeded else { return nil }
        return "\(Self.count(errors, "error")), \(Self.count(mismatches, "mismatch")); first: \(firstFailure ?? "unknown")"
    }

    /// `1 line`, `2 lines`, `2 mismatches`.
    static func count(_ number: Int, _ noun: String) -> String {
        number == 1 ? "1 \(noun)" : "\(number) \(plural(noun))"
    }

    /// `lines`, `batches`, `mismatches`.
    private static func plural(_ noun: String) -> String {
        noun + (noun.hasSuffix("ch") ? "es" : "s")
    }

    /// Nanoseconds as milliseconds with three decimals.
    private static func milliseconds(_ nanoseconds: Double) -> String {
        fixed(nanoseconds / 1e6, 3)
    }

    /// `value` (non-negative) with `digits` decimals, rounded.
    static func fixed(_ value: Double, _ digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        guard value.isFinite, value >= 0, value * scale < 9e18 else { return "\(value)" }
        let scaled = Int((value * scale).rounded())
        let whole = scaled / Int(scale)
        guard digits > 0 else { return "\(whole)" }
        let fraction = String(scaled % Int(scale))
        return "\(whole)." + String(repeating: "0", count: digits - fraction.count) + fraction
    }
}
