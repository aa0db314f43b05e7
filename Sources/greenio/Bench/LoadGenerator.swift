import GreenIO
import Glibc

/// The load generator behind `greenio bench`: every connection is a green thread on one hub
/// (`BenchConnection`), and one more green thread keeps time — warm-up, then the measuring window
/// with a progress line on standard error every second (`drive`, which `ChurnGenerator` shares).
struct LoadGenerator: Sendable {
    let settings: BenchSettings

    /// What a run came to.
    enum Outcome: Sendable {
        /// Not every connection could be made (nothing was measured).
        case couldNotConnect(String)
        /// The run took place; errors and mismatches are in the report.
        case ran(BenchReport)
    }

    /// Connects every connection, then runs the warm-up and the measuring window.
    /// - Throws: `IOError` if the hub cannot be created.
    func run() throws -> Outcome {
        signal(SIGPIPE, SIG_IGN)
        let dialer = BenchDialer(settings: settings)
        return try Hub.run {
            if let tls = self.settings.tls {
                return await self.run { try await dialer.connectTLS(tls) }
            }
            return await self.run { try await dialer.connectPlain() }
        }
    }

    /// Makes the connections concurrently, then drives them.
    private func run<Connection: RawSocket>(connecting connect: @escaping @Sendable () async throws -> Connection) async -> Outcome {
        guard let hub = Hub.current else { return .couldNotConnect("no hub") }
        let attempts = (0..<settings.connections).map { _ in hub.spawn { try await connect() } }
        var connections: [Connection] = []
        var failure: String?
        for attempt in attempts {
            do {
                connections.append(try await attempt.value)
            } catch {
                if failure == nil { failure = "\(error)" }
            }
        }
        if let failure {
            connections.forEach { $0.close() }
            return .couldNotConnect(failure)
        }

        let recorder = BenchRecorder()
        let settings = self.settings
        let sockets = connections
        await Self.drive(settings, recorder, counting: "lines", workers: sockets.count) { index in
            await BenchConnection(socket: sockets[index], index: index, settings: settings, recorder: recorder).run()
        }
        return .ran(BenchReport(settings: settings, recorder: recorder))
    }

    /// Runs `workers` green threads on this hub (`work(index)`, index 0..<workers) through the
    /// warm-up and the measuring window, with a green thread that keeps time and prints
    /// `t=Ns UNIT/s=R` on standard error every second (R: the recorder's lines per second).
    /// Returns once every worker has ended — normally after the window, or early after failures —
    /// with the recorder finished.
    static func drive(_ settings: BenchSettings, _ recorder: BenchRecorder, counting unit: String, workers: Int,
                      _ work: @escaping @Sendable (Int) async -> Void) async {
        guard let hub = Hub.current else { return }
        let clock = hub.spawn { try await keepTime(settings, recorder, unit) }
        let running = (0..<workers).map { index in hub.spawn { await work(index) } }
        for worker in running { _ = try? await worker.value }
        recorder.finish()
        clock.cancel()
        _ = try? await clock.value
    }

    /// Sleeps through the warm-up, starts measuring, prints `t=Ns UNIT/s=R` every second, and
    /// finishes the run at the end of the window.
    private static func keepTime(_ settings: BenchSettings, _ recorder: BenchRecorder, _ unit: String) async throws {
        try await Hub.sleep(for: .seconds(settings.warmup))
        recorder.startMeasuring()
        let start = Deadline.now
        let end = start.advanced(by: .seconds(settings.measured))
        var tick = 1
        while start.advanced(by: .seconds(tick)) <= end {
            try await Hub.sleep(until: start.advanced(by: .seconds(tick)))
            guard recorder.phase == .measuring else { return }
            let rate = Double(recorder.lines) / recorder.measuredSeconds
            StandardStreams.printError("t=\(tick)s \(unit)/s=\(Int(rate))")
            tick += 1
        }
        try await Hub.sleep(until: end)
        recorder.finish()
    }
}
