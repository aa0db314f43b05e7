import GreenIO
import Glibc

/// The load generator behind `greenio bench`: every connection is a green thread on one hub
/// (`BenchConnection`), and one more green thread keeps time — warm-up, then the measuring window
/// with a progress line on standard error every second.
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
        return try Hub.run {
            if let tls = self.settings.tls {
                return await self.run { try await self.connectTLS(tls) }
            }
            return await self.run { try await self.connectPlain() }
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
        let clock = hub.spawn { try await Self.keepTime(settings, recorder) }
        let workers = connections.enumerated().map { index, socket in
            hub.spawn { await BenchConnection(socket: socket, index: index, settings: settings, recorder: recorder).run() }
        }
        for worker in workers { _ = try? await worker.value }
        // Every connection has ended (normally after the window, or early after failures).
        recorder.finish()
        clock.cancel()
        _ = try? await clock.value
        return .ran(BenchReport(settings: settings, recorder: recorder))
    }

    /// Sleeps through the warm-up, starts measuring, prints `t=Ns lines/s=R` every second, and
    /// finishes the run at the end of the window.
    private static func keepTime(_ settings: BenchSettings, _ recorder: BenchRecorder) async throws {
        try await Hub.sleep(for: .seconds(settings.warmup))
        recorder.startMeasuring()
        let start = Deadline.now
        let end = start.advanced(by: .seconds(settings.measured))
        var tick = 1
        while start.advanced(by: .seconds(tick)) <= end {
            try await Hub.sleep(until: start.advanced(by: .seconds(tick)))
            guard recorder.phase == .measuring else { return }
            let rate = Double(recorder.lines) / recorder.measuredSeconds
            StandardStreams.printError("t=\(tick)s lines/s=\(Int(rate))")
            tick += 1
        }
        try await Hub.sleep(until: end)
        recorder.finish()
    }

    /// A plain TCP connection with TCP_NODELAY, in blocking mode (deadlines bound each operation).
    private func connectPlain() async throws -> Socket {
        let socket = try await openSocket()
        do {
            try socket.setTimeout(.blocking)
            return socket
        } catch {
            socket.close()
            throw BenchFailure(description: "cannot connect to \(settings.endpoint): \(error)")
        }
    }

    /// A TLS connection, handshake done within the timeout, then in blocking mode.
    private func connectTLS(_ tls: ClientTLS) async throws -> TLSSocket {
        let socket = try await openSocket()
        let secure: TLSSocket
        do {
            secure = try await TLSSocket.wrap(socket, context: tls.context, serverHostname: tls.serverHostname)
        } catch {
            throw BenchFailure(description: "TLS handshake with \(settings.endpoint) failed: \(error)")
        }
        do {
            try secure.setTimeout(.blocking)
            return secure
        } catch {
            secure.close()
            throw BenchFailure(description: "TLS with \(settings.endpoint): \(error)")
        }
    }

    /// Connects within the timeout (the socket stays in that timeout mode) and sets TCP_NODELAY.
    private func openSocket() async throws -> Socket {
        let socket: Socket
        do {
            socket = try await Socket.connect(host: settings.endpoint.host, port: settings.endpoint.port,
                                              timeout: .timeout(.seconds(settings.timeout)))
        } catch {
            throw BenchFailure(description: "cannot connect to \(settings.endpoint): \(error)")
        }
        do {
            try socket.setOption(.noDelay, true)
            return socket
        } catch {
            socket.close()
            throw BenchFailure(description: "cannot connect to \(settings.endpoint): \(error)")
        }
    }
}
