import Testing
@testable import GreenIO

/// `greenio bench --churn` end to end against `greenio serve`: connections per second, plain and
/// TLS, full handshakes and resumed sessions, and its failures and usage errors.
@Suite("CLI bench churn", .timeLimit(.minutes(1)))
struct CLIChurnTests {
    /// Runs `greenio bench --churn` for a second against a `greenio serve` started with `serverOptions`.
    private func churn(serverOptions: [String], benchOptions: [String]) async throws -> BenchRun {
        let tls = serverOptions.contains("--tls")
        let server = try startServer(serverOptions)
        defer { server.terminate() }
        return try await onHub(limit: .seconds(40)) { () -> BenchRun in
            let port = tls ? try await server.tlsListening().port : try await server.listeningPort()
            return try await runBench(["127.0.0.1:\(port)", "--churn", "--conns", "4", "--secs", "1", "--warmup", "0.2"]
                + (tls ? ["--tls", "--insecure"] : []) + benchOptions)
        }
    }

    @Test("bench --churn against greenio serve: exit 0, connections/s > 0, no mismatches; TLS resumes only with --resume",
          arguments: [(false, false), (true, false), (true, true)])
    func churnAgainstServe(tls: Bool, resume: Bool) async throws {
        let run = try await churn(serverOptions: tls ? ["--tls"] : [], benchOptions: resume ? ["--resume"] : [])
        #expect(run.status == 0, "stdout: \(run.output)\nstderr: \(run.errors)")
        #expect((run.figure("connections/s") ?? 0) > 0, "\(run.output)")
        #expect(run.figure("mismatches") == 0, "\(run.output)")
        #expect(run.figure("errors") == 0, "\(run.output)")
        #expect(run.output.contains("connect+echo: p50 "), "\(run.output)")
        #expect(run.output.contains("client CPU: "), "\(run.output)")
        #expect(run.errors.contains("t=1s connections/s="), "\(run.errors)")
        if tls {
            // The server resumes sessions: a full-handshake run must not have offered any.
            let resumed = try #require(run.figure("resumed"), "\(run.output)")
            #expect(resume ? resumed > 0 : resumed == 0, "\(run.output)")
        } else {
            #expect(run.figure("resumed") == nil, "\(run.output)")
        }
    }

    @Test("--resume against a server that keeps no sessions fails loudly: exit 1 with a message")
    func resumeWithoutServerSessions() async throws {
        let run = try await churn(serverOptions: ["--tls", "--no-session-tickets", "--no-session-cache"],
                                  benchOptions: ["--resume"])
        #expect(run.status == 1, "stdout: \(run.output)\nstderr: \(run.errors)")
        #expect(run.figure("resumed") == 0 && run.figure("errors") == 0, "\(run.output)")
        #expect(run.errors.contains("greenio bench: --resume: no connection resumed its session"), "\(run.errors)")
    }

    @Test("--churn against a closed port: exit 1, the errors counted and the first one named")
    func closedPort() async throws {
        let run = try await onHub(limit: .seconds(20)) {
            try await runBench(["127.0.0.1:\(try GreenIOTests.closedPort())", "--churn", "--conns", "2", "--secs", "0.2", "--warmup", "0"])
        }
        #expect(run.status == 1, "stdout: \(run.output)\nstderr: \(run.errors)")
        #expect(run.figure("errors") == 2, "\(run.output)")
        #expect(run.errors.contains("first: connection ") && run.errors.contains("refused"), "\(run.errors)")
    }

    @Test("bad churn arguments exit with code 2 and a usage message", arguments: [
        (["--churn", "--batch", "2"], "--churn sends one line per connection"),
        (["--resume"], "--resume needs --churn and --tls"),
        (["--churn", "--resume"], "--resume needs --churn and --tls"),
        (["--tls", "--resume"], "--resume needs --churn and --tls"),
    ])
    func badArguments(arguments: [String], message: String) async throws {
        let process = try ChildProcess(["bench", "127.0.0.1:7878"] + arguments)
        defer { process.terminate() }
        let status = try await onHub(limit: .seconds(20)) {
            try await process.waitForExit(deadline: .after(.seconds(10)))
        }
        #expect(status == 2)
        #expect(process.errorText().contains(message) && process.errorText().contains("Usage:"), "\(process.errorText())")
    }
}
