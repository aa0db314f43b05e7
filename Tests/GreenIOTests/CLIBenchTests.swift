import Glibc
import Testing
@testable import GreenIO

/// `greenio bench` end to end: against `greenio serve` (plain and TLS), against in-test servers that
/// corrupt an echo or close early, and its failures and usage errors.
@Suite("CLI bench", .timeLimit(.minutes(1)))
struct CLIBenchTests {
    @Test("bench against greenio serve: exit 0, lines/s > 0, no mismatches, no errors", arguments: [false, true])
    func benchAgainstServe(tls: Bool) async throws {
        let server = try startServer(tls ? ["--tls"] : [])
        defer { server.terminate() }
        let run = try await onHub(limit: .seconds(40)) { () -> BenchRun in
            let port = tls ? try await server.tlsListening().port : try await server.listeningPort()
            return try await runBench(["127.0.0.1:\(port)", "--conns", "4", "--batch", "8", "--secs", "1", "--warmup", "0.2"]
                + (tls ? ["--tls", "--insecure"] : []))
        }
        #expect(run.status == 0, "stdout: \(run.output)\nstderr: \(run.errors)")
        #expect((run.figure("lines/s") ?? 0) > 0, "\(run.output)")
        #expect(run.figure("mismatches") == 0, "\(run.output)")
        #expect(run.figure("errors") == 0, "\(run.output)")
        #expect(run.output.contains("batch round trip: p50 "), "\(run.output)")
        #expect(run.output.contains("client CPU: "), "\(run.output)")
        #expect(run.errors.contains("t=1s lines/s="), "\(run.errors)")
    }

    @Test("bench with one 1 MiB line in flight (--batch 1) against greenio serve --max-line 1 MiB: every echo checked, exit 0", arguments: [false, true])
    func benchLongLines(tls: Bool) async throws {
        let server = try startServer(["--max-line", "1048576"] + (tls ? ["--tls"] : []))
        defer { server.terminate() }
        let run = try await onHub(limit: .seconds(40)) { () -> BenchRun in
            let port = tls ? try await server.tlsListening().port : try await server.listeningPort()
            return try await runBench(["127.0.0.1:\(port)", "--conns", "2", "--batch", "1", "--len", "1048576",
                                       "--secs", "1", "--warmup", "0.2"] + (tls ? ["--tls", "--insecure"] : []))
        }
        #expect(run.status == 0, "stdout: \(run.output)\nstderr: \(run.errors)")
        #expect((run.figure("lines/s") ?? 0) > 0, "\(run.output)")
        #expect(run.figure("mismatches") == 0, "\(run.output)")
        #expect(run.figure("errors") == 0, "\(run.output)")
    }

    @Test("pingpong --hubs 2: one pair per hub at once, a rate per run and the median of their sums; --hubs 0 is a usage error")
    func pingPongOnTwoHubs() async throws {
        let run = try await onHub(limit: .seconds(40)) { () -> BenchRun in
            let child = try ChildProcess(["pingpong", "--hubs", "2", "--secs", "0.3", "--runs", "2"])
            defer { child.terminate() }
            let output = try await child.readAllOutput(deadline: .after(.seconds(30)))
            let status = try await child.waitForExit(deadline: .after(.seconds(10)))
            return BenchRun(output: text(output), status: status, errors: child.errorText())
        }
        #expect(run.status == 0, "stdout: \(run.output)\nstderr: \(run.errors)")
        let lines = run.output.split(separator: "\n").map(String.init)
        #expect(lines.count == 3 && lines[0].hasPrefix("run 1: ") && lines[1].hasPrefix("run 2: "), "\(run.output)")
        let median = lines.last.flatMap { $0.split(separator: " ").dropFirst().first }.flatMap { Int($0) } ?? 0
        #expect(lines.last?.hasSuffix(" round trips/s") == true && median > 0, "\(run.output)")

        let refused = try await onHub(limit: .seconds(20)) { () -> BenchRun in
            let child = try ChildProcess(["pingpong", "--hubs", "0"])
            defer { child.terminate() }
            let output = try await child.readAllOutput(deadline: .after(.seconds(10)))
            let status = try await child.waitForExit(deadline: .after(.seconds(10)))
            return BenchRun(output: text(output), status: status, errors: child.errorText())
        }
        #expect(refused.status == 2, "a usage error")
        #expect(refused.errors.contains("--hubs must be in 1...256"), "\(refused.errors)")
    }

    @Test("an echo with one corrupted byte is a mismatch: exit 1, reported in the summary and the message")
    func detectsMismatch() async throws {
        let run = try await onHub(limit: .seconds(40)) { () -> BenchRun in
            // The 10th line of the first connection comes back with one byte changed.
            try await withTestServer(.corrupt(line: 10)) { port in
                try await runBench(["127.0.0.1:\(port)", "--conns", "2", "--batch", "4", "--secs", "1", "--warmup", "0"])
            }
        }
        #expect(run.status == 1, "stdout: \(run.output)\nstderr: \(run.errors)")
        #expect(run.figure("mismatches") == 1, "\(run.output)")
        #expect(run.figure("errors") == 0, "\(run.output)")
        let message = run.errors.split(separator: "\n").last.map(String.init) ?? ""
        #expect(message.hasPrefix("greenio bench: 0 errors, 1 mismatch; first: connection "), "\(run.errors)")
        #expect(message.contains("line 2 of 4 in the batch: expected \"") && message.contains("X"), "\(message)")
    }

    @Test("bytes behind a batch's echo that were never sent are a mismatch: exit 1, reported")
    func detectsExtraBytes() async throws {
        let run = try await onHub(limit: .seconds(40)) { () -> BenchRun in
            try await withTestServer(.extra(afterLine: 3)) { port in
                try await runBench(["127.0.0.1:\(port)", "--conns", "1", "--batch", "1", "--secs", "1", "--warmup", "0"])
            }
        }
        #expect(run.status == 1, "stdout: \(run.output)\nstderr: \(run.errors)")
        #expect(run.figure("mismatches") == 1, "\(run.output)")
        #expect(run.errors.contains("unexpected bytes after a batch's echo: \"j"), "\(run.errors)")
    }

    @Test("a server that closes the connection early is an error: exit 1 with a message")
    func serverClosingEarly() async throws {
        let run = try await onHub(limit: .seconds(40)) { () -> BenchRun in
            try await withTestServer(.close(atLine: 6)) { port in
                try await runBench(["127.0.0.1:\(port)", "--batch", "2", "--secs", "1", "--warmup", "0"])
            }
        }
        #expect(run.status == 1, "stdout: \(run.output)\nstderr: \(run.errors)")
        #expect(run.figure("errors") == 1, "\(run.output)")
        #expect(run.figure("mismatches") == 0, "\(run.output)")
        #expect(run.errors.contains("server closed the connection after 64 of the 128 bytes"), "\(run.errors)")
    }

    @Test("a server that never echoes is a timeout error: exit 1 with a message")
    func serverNeverEchoing() async throws {
        let run = try await onHub(limit: .seconds(40)) { () -> BenchRun in
            try await withTestServer(.silent) { port in
                try await runBench(["127.0.0.1:\(port)", "--secs", "5", "--warmup", "0", "--timeout", "0.3"])
            }
        }
        #expect(run.status == 1, "stdout: \(run.output)\nstderr: \(run.errors)")
        #expect(run.figure("errors") == 1, "\(run.output)")
        #expect(run.figure("lines/s") == 0, "\(run.output)")
        #expect(run.errors.contains("greenio bench: 1 error, 0 mismatches; first: connection 0: timed out waiting for the echo of a batch"),
                "\(run.errors)")
    }

    @Test("bench to a closed port exits non-zero with a one-line message")
    func connectionRefused() async throws {
        let run = try await onHub(limit: .seconds(20)) {
            try await runBench(["127.0.0.1:\(try closedPort())", "--conns", "3"])
        }
        #expect(run.status == 1)
        #expect(run.output.isEmpty, "\(run.output)")
        #expect(run.errors.hasSuffix("\n") && run.errors.dropLast().split(separator: "\n").count == 1, "\(run.errors)")
        #expect(run.errors.hasPrefix("greenio bench: cannot connect to 127.0.0.1:") && run.errors.contains("refused"),
                "\(run.errors)")
    }

    @Test("bad arguments exit with code 2 and a usage message", arguments: [
        ["bench"],
        ["bench", "localhost"],
        ["bench", "::1:7878"],
        ["bench", "localhost:0"],
        ["bench", "127.0.0.1:7878", "--conns", "0"],
        ["bench", "127.0.0.1:7878", "--conns", "many"],
        ["bench", "127.0.0.1:7878", "--batch", "0"],
        ["bench", "127.0.0.1:7878", "--len", "1"],
        ["bench", "127.0.0.1:7878", "--len", "15"],
        ["bench", "127.0.0.1:7878", "--batch", "8192", "--len", "64"],
        ["bench", "127.0.0.1:7878", "--batch", "2", "--len", "200000"],
        ["bench", "127.0.0.1:7878", "--len", "16777217"],
        ["bench", "127.0.0.1:7878", "--secs", "0"],
        ["bench", "127.0.0.1:7878", "--warmup=-1"],
        ["bench", "127.0.0.1:7878", "--timeout", "0"],
        ["bench", "127.0.0.1:7878", "--insecure"],
    ])
    func badArguments(arguments: [String]) async throws {
        let process = try ChildProcess(arguments)
        defer { process.terminate() }
        let status = try await onHub(limit: .seconds(20)) {
            try await process.waitForExit(deadline: .after(.seconds(10)))
        }
        #expect(status == 2)
        #expect(process.errorText().contains("Usage:"), "\(process.errorText())")
    }
}

/// What a `greenio bench` child printed and how it exited.
struct BenchRun: Sendable {
    let output: String
    let status: Int32
    let errors: String

    /// The integer after `name: ` at the start of a summary line (`lines/s: 123`), if any.
    func figure(_ name: String) -> Int? {
        for line in output.split(separator: "\n") where line.hasPrefix(name + ": ") {
            return Int(line.dropFirst(name.count + 2).prefix(while: \.isNumber))
        }
        return nil
    }
}

/// Runs `greenio bench ARGUMENTS` to its end (within 30 s; killed if still running then).
func runBench(_ arguments: [String]) async throws -> BenchRun {
    let bench = try ChildProcess(["bench"] + arguments)
    defer { bench.terminate() }
    let output = try await bench.readAllOutput(deadline: .after(.seconds(30)))
    let status = try await bench.waitForExit(deadline: .after(.seconds(10)))
    return BenchRun(output: text(output), status: status, errors: bench.errorText())
}

/// How the in-test echo server misbehaves on its first connection (lines counted from 1).
enum Misbehaviour: Sendable {
    /// Changes the 13th byte of this line to `X`.
    case corrupt(line: Int)
    /// Closes the connection instead of echoing this line.
    case close(atLine: Int)
    /// Reads lines and never echoes any.
    case silent
    /// Echoes this line followed by bytes that were never sent, in the same write.
    case extra(afterLine: Int)
}

/// Runs `body` with the port of a line-echo server on this hub that misbehaves on its first
/// connection as told. Other connections get an honest echo; every connection is closed at its
/// client's end of stream.
func withTestServer<T: Sendable>(_ misbehaviour: Misbehaviour, _ body: (Int) async throws -> T) async throws -> T {
    let listener = try await Socket.listen(host: "127.0.0.1", port: 0)
    defer { listener.close() }
    guard let port = try listener.localAddress().port, let hub = Hub.current else {
        throw ChildProcessError(description: "no port or no hub")
    }
    let acceptor = hub.spawn {
        var first = true
        while true {
            let (connection, _) = try await listener.accept()
            let misbehaving = first ? misbehaviour : nil
            first = false
            hub.spawn {
                defer { connection.close() }
                try connection.setTimeout(seconds: 20)
                let file = try connection.makeReadWritePair()
                defer { file.reader.close() }
                var number = 0
                while let line = try await file.readLine(), !line.isEmpty {
                    number += 1
                    var echo = line
                    switch misbehaving {
                    case .corrupt(let corrupted) where corrupted == number && echo.count > 12: echo[12] = UInt8(ascii: "X")
                    case .close(let last) where last == number: try await file.flush(); return
                    case .silent: continue
                    case .extra(let line) where line == number: echo += Array("junk\n".utf8)
                    default: break
                    }
                    _ = try await file.write(echo)
                    if file.reader.bufferedByteCount == 0 { try await file.flush() }
                }
                try await file.flush()
            }
        }
    }
    defer { acceptor.cancel() }
    return try await body(port)
}
