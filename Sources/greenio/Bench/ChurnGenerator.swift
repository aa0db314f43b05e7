import GreenIO
import Glibc

/// The connection-churn load behind `greenio bench --churn`: `connections` green threads on one hub
/// (`ChurnConnection`), each connecting, echoing one line and closing in a loop, timed by the same
/// clock as the steady load (`LoadGenerator.drive`).
struct ChurnGenerator: Sendable {
    let settings: BenchSettings
    /// Offer each connection the session of the connection before it (TLS only).
    let resume: Bool

    /// Runs the warm-up and the measuring window.
    /// - Throws: `IOError` if the hub cannot be created.
    func run() throws -> ChurnReport {
        signal(SIGPIPE, SIG_IGN)
        let settings = self.settings
        let resume = self.resume
        let dialer = BenchDialer(settings: settings)
        return try Hub.run {
            let recorder = BenchRecorder()
            if let tls = settings.tls {
                // Only the sessions the workers offer themselves: without --resume, every handshake
                // is a full one (the context would otherwise offer the last session it saw).
                tls.context.remembersSessions = false
                await LoadGenerator.drive(settings, recorder, counting: "connections", workers: settings.connections) { index in
                    await ChurnConnection(index: index, settings: settings, recorder: recorder, resume: resume) { session in
                        try await dialer.connectTLS(tls, session: session)
                    }.run()
                }
            } else {
                await LoadGenerator.drive(settings, recorder, counting: "connections", workers: settings.connections) { index in
                    await ChurnConnection(index: index, settings: settings, recorder: recorder, resume: false) { _ in
                        try await dialer.connectPlain()
                    }.run()
                }
            }
            return ChurnReport(settings: settings, resume: resume, recorder: recorder)
        }
    }
}
