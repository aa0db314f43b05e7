/// The outcome of a `greenio bench --churn` run: connections per second, the share that resumed a
/// TLS session, the connect-to-echo time, the generator's CPU share, errors and mismatches.
struct ChurnReport: Sendable {
    /// The figures every run has; its lines and round trips are connections here (one line each).
    let base: BenchReport
    /// Whether sessions were offered (`--resume`).
    let resume: Bool
    /// Connections in the window that resumed a session.
    let resumed: Int

    /// Takes the figures of a finished run.
    init(settings: BenchSettings, resume: Bool, recorder: BenchRecorder) {
        base = BenchReport(settings: settings, recorder: recorder)
        self.resume = resume
        resumed = recorder.resumed
    }

    /// Completed connections per second of the window.
    var connectionsPerSecond: Double { base.linesPerSecond }

    /// The share of the window's connections that resumed a session, in percent.
    var resumedPercent: Double { base.lines > 0 ? Double(resumed) / Double(base.lines) * 100 : 0 }

    /// The summary for standard output, one figure per line.
    var summary: [String] {
        let settings = base.settings
        let mode = settings.tls == nil ? "plain" : resume ? "tls, sessions offered" : "tls, full handshakes"
        var lines = [
            "churn \(settings.endpoint) \(mode): \(BenchReport.count(settings.connections, "connection")) at a time, "
                + "one \(settings.lineLength)-byte line each, \(BenchReport.fixed(base.seconds, 2)) s measured "
                + "after \(settings.warmup) s warm-up",
            "connections/s: \(Int(connectionsPerSecond.rounded()))",
        ]
        if settings.tls != nil {
            lines.append("resumed: \(BenchReport.fixed(resumedPercent, 1)) % (\(resumed) of \(base.lines) connections)")
        }
        return lines + ["connect+echo: \(base.percentiles(of: "connection"))"] + base.closingLines
    }

    /// The one-line message for standard error when the run failed: errors, mismatches, or
    /// `--resume` without a single resumed connection (a server that keeps no sessions must not
    /// pass for one whose resumption is merely slow).
    var failureMessage: String? {
        if let failure = base.failureMessage { return failure }
        guard resume && resumed == 0 else { return nil }
        return "--resume: no connection resumed its session (does the server issue session tickets or keep a session cache?)"
    }
}
