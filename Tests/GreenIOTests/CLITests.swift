import Glibc
import Testing
@testable import GreenIO

/// `greenio serve` as a subprocess, driven by GreenIO sockets.
@Suite("CLI serve", .timeLimit(.minutes(1)))
struct CLIServeTests {
    @Test("echoes lines: one at a time, split across writes, and pipelined")
    func echoesLines() async throws {
        let server = try startServer()
        defer { server.terminate() }
        try await onHub(limit: .seconds(20)) {
            let socket = try await connectToServer(port: server.listeningPort())
            defer { socket.close() }
            try await socket.sendAll(bytes("alpha\n"))
            #expect(text(try await receive(socket, count: 6)) == "alpha\n")

            try await socket.sendAll(bytes("be"))
            try await Hub.sleep(for: .milliseconds(50))
            try await socket.sendAll(bytes("ta\ngam"))
            try await Hub.sleep(for: .milliseconds(50))
            try await socket.sendAll(bytes("ma\n"))
            #expect(text(try await receive(socket, count: 11)) == "beta\ngamma\n")

            let pipelined = (1...2000).map { "line \($0) \(String(repeating: "x", count: $0 % 70))\n" }.joined()
            try await socket.sendAll(bytes(pipelined))
            #expect(text(try await receive(socket, count: pipelined.utf8.count)) == pipelined)

            try socket.shutdown(.write)
            #expect(try await receiveToEnd(socket).isEmpty)
        }
    }

    @Test("--log-level notice: connections are served and not logged; the start line and the shutdown counts still are")
    func logLevelNotice() async throws {
        let server = try startServer(["--log-level", "notice", "--hubs", "2"])
        defer { server.terminate() }
        try await onHub(limit: .seconds(20)) {
            let socket = try await connectToServer(port: server.listeningPort())
            defer { socket.close() }
            try await socket.sendAll(bytes("quiet\n"))
            #expect(text(try await receive(socket, count: 6)) == "quiet\n")
            try socket.shutdown(.write)
            #expect(try await receiveToEnd(socket).isEmpty)
            server.send(SIGTERM)
            #expect(try await server.waitForExit(deadline: .after(.seconds(10))) == 0)
        }
        let log = server.errorText()
        #expect(log.contains("serving on 2 hubs"), "\(log)")
        let connectionLines = log.split(separator: "\n").filter { $0.hasPrefix("open ") || $0.hasPrefix("close ") }
        #expect(connectionLines.isEmpty, "\(log)")
        #expect(log.contains("connections per hub: "), "\(log)")
    }

    @Test("echoes a final unterminated line at end of stream, then closes")
    func echoesFinalLineAtEndOfStream() async throws {
        let server = try startServer()
        defer { server.terminate() }
        try await onHub(limit: .seconds(20)) {
            let port = try await server.listeningPort()
            let socket = try await connectToServer(port: port)
            defer { socket.close() }
            try await socket.sendAll(bytes("one\ntwo"))
            try socket.shutdown(.write)
            #expect(text(try await receiveToEnd(socket)) == "one\ntwo")

            let silent = try await connectToServer(port: port)
            defer { silent.close() }
            try silent.shutdown(.write)
            #expect(try await receiveToEnd(silent).isEmpty)
        }
    }

    @Test("--max-line 16 accepts 16-byte lines and rejects longer ones, then closes")
    func rejectsLongLines() async throws {
        let server = try startServer(["--max-line", "16"])
        defer { server.terminate() }
        try await onHub(limit: .seconds(20)) {
            let port = try await server.listeningPort()

            let fits = try await connectToServer(port: port)
            defer { fits.close() }
            try await fits.sendAll(bytes("0123456789abcde\n0123456789abcdef"))
            try fits.shutdown(.write)
            #expect(text(try await receiveToEnd(fits)) == "0123456789abcde\n0123456789abcdef")

            let tooLong = try await connectToServer(port: port)
            defer { tooLong.close() }
            try await tooLong.sendAll(bytes("ok\n0123456789abcdef\nnever echoed\n"))
            #expect(text(try await receiveToEnd(tooLong)) == "ok\nERR line too long\n")

            // No newline at all, and far more than the server reads before answering: the reply
            // must still arrive (no reset from unread input), and memory stays bounded.
            let flood = try await connectToServer(port: port)
            defer { flood.close() }
            try await flood.sendAll([UInt8](repeating: 0x61, count: 200_000))
            #expect(text(try await receiveToEnd(flood)) == "ERR line too long\n")
        }
    }

    @Test("50 concurrent clients all get their own lines back")
    func manyConcurrentClients() async throws {
        let server = try startServer()
        defer { server.terminate() }
        let failures = try await onHub(limit: .seconds(40)) { () -> [String] in
            let port = try await server.listeningPort()
            guard let hub = Hub.current else { return ["no hub"] }
            let clients = (0..<50).map { client in
                hub.spawn { () -> String? in
                    let socket = try await connectToServer(port: port)
                    defer { socket.close() }
                    var expected: [UInt8] = []
                    for batch in 0..<4 {
                        let lines = (0..<25).map { "client \(client) batch \(batch) line \($0)\n" }.joined()
                        try await socket.sendAll(bytes(lines))
                        expected += bytes(lines)
                        try await Hub.sleep(for: .milliseconds(5))
                    }
                    try socket.shutdown(.write)
                    let echoed = try await receiveToEnd(socket, within: .seconds(20))
                    return echoed == expected ? nil : "client \(client): \(echoed.count) of \(expected.count) bytes"
                }
            }
            var failures: [String] = []
            for client in clients {
                do {
                    if let failure = try await client.value { failures.append(failure) }
                } catch {
                    failures.append("\(error)")
                }
            }
            return failures
        }
        #expect(failures.isEmpty)
    }

    @Test("serves IPv6 on ::1, reached by a socket and by greenio connect [::1]:PORT",
          .enabled(if: ipv6LoopbackAvailable()))
    func servesIPv6() async throws {
        let server = try startServer(["--host", "::1"])
        defer { server.terminate() }
        try await onHub(limit: .seconds(20)) {
            let port = try await server.listeningPort()
            let socket = try await connectToServer(port: port, host: "::1")
            defer { socket.close() }
            try await socket.sendAll(bytes("v6\n"))
            try socket.shutdown(.write)
            #expect(text(try await receiveToEnd(socket)) == "v6\n")

            let client = try ChildProcess(["connect", "[::1]:\(port)"], pipeInput: true)
            defer { client.terminate() }
            try await client.writeInput(bytes("via connect\n"), deadline: .after(.seconds(10)))
            client.closeInput()
            #expect(text(try await client.readAllOutput(deadline: .after(.seconds(10)))) == "via connect\n")
            #expect(try await client.waitForExit(deadline: .after(.seconds(10))) == 0, "\(client.errorText())")
        }
    }
}

/// `--timeout`: these tests measure time, so they run one at a time, with generous bounds.
@Suite("CLI serve timeouts", .serialized, .timeLimit(.minutes(1)))
struct CLITimeoutTests {
    @Test("an idle client gets ERR timeout and is closed")
    func idleClientTimesOut() async throws {
        let server = try startServer(["--timeout", "0.3"])
        defer { server.terminate() }
        try await onHub(limit: .seconds(20)) {
            let socket = try await connectToServer(port: server.listeningPort())
            defer { socket.close() }
            let start = Deadline.now
            #expect(text(try await receiveToEnd(socket)) == "ERR timeout\n")
            let elapsed = seconds(since: start)
            #expect(elapsed > 0.25 && elapsed < 3, "closed after \(elapsed) s")
        }
    }

    @Test("a client dribbling one byte per 100 ms without a newline gets ERR timeout")
    func slowDribblerTimesOut() async throws {
        let server = try startServer(["--timeout", "0.3"])
        defer { server.terminate() }
        try await onHub(limit: .seconds(20)) {
            let socket = try await connectToServer(port: server.listeningPort())
            defer { socket.close() }
            let start = Deadline.now
            guard let hub = Hub.current else { return }
            let dribbler = hub.spawn {
                for _ in 0..<40 {
                    guard (try? await socket.sendAll(bytes("x"))) != nil else { return }
                    try await Hub.sleep(for: .milliseconds(100))
                }
            }
            defer { dribbler.cancel() }
            #expect(text(try await receiveToEnd(socket)) == "ERR timeout\n")
            let elapsed = seconds(since: start)
            #expect(elapsed > 0.25 && elapsed < 3, "closed after \(elapsed) s")
        }
    }

    @Test("a client completing a line every 100 ms is not closed")
    func steadyClientStaysOpen() async throws {
        let server = try startServer(["--timeout", "0.3"])
        defer { server.terminate() }
        try await onHub(limit: .seconds(20)) {
            let socket = try await connectToServer(port: server.listeningPort())
            defer { socket.close() }
            for tick in 0..<12 {  // 1.2 s in all: four times the timeout.
                try await Hub.sleep(for: .milliseconds(100))
                let line = "tick \(tick)\n"
                try await socket.sendAll(bytes(line))
                #expect(text(try await receive(socket, count: line.utf8.count)) == line)
            }
            try socket.shutdown(.write)
            #expect(try await receiveToEnd(socket).isEmpty)
        }
    }
}

/// Process-level behaviour: signals and exit codes.
@Suite("CLI process", .timeLimit(.minutes(1)))
struct CLIProcessTests {
    @Test("SIGTERM and SIGINT stop the server with exit code 0, closing open connections when the drain period ends",
          arguments: [SIGTERM, SIGINT])
    func signalStopsServer(signal: Int32) async throws {
        let server = try startServer(["--drain", "1"])
        defer { server.terminate() }
        let (status, closedAfter) = try await onHub(limit: .seconds(20)) { () -> (Int32, Double) in
            let socket = try await connectToServer(port: server.listeningPort())
            defer { socket.close() }
            try await socket.sendAll(bytes("hi\n"))
            #expect(text(try await receive(socket, count: 3)) == "hi\n")
            let signalled = Deadline.now
            server.send(signal)
            #expect(try await receiveToEnd(socket).isEmpty)
            let closedAfter = seconds(since: signalled)
            return (try await server.waitForExit(deadline: .after(.seconds(10))), closedAfter)
        }
        #expect(status == 0, "stderr: \(server.errorText())")
        // The idle connection was kept for the drain period (1 s), then closed.
        #expect(closedAfter > 0.8 && closedAfter < 6, "closed \(closedAfter) s after the signal")
        #expect(server.errorText().contains("(server stopping)"), "\(server.errorText())")
    }

    @Test("bad arguments exit with code 2 and a usage message", arguments: [
        ["serve", "--bogus"],
        ["serve", "--port", "70000"],
        ["serve", "--port", "-1"],
        ["serve", "--port=-1"],
        ["serve", "--port", "http"],
        ["serve", "--timeout=-1"],
        ["serve", "--timeout", "soon"],
        ["serve", "--max-line", "0"],
        ["serve", "--drain", "-1"],
        ["serve", "--max-connections", "0"],
        ["serve", "--log-level", "loud"],
        ["connect"],
        ["connect", "localhost"],
        ["connect", "::1:7878"],
        ["connect", "[::1]7878"],
        ["connect", "localhost:99999"],
        ["connect", "localhost:7878", "--timeout=-2"],
        ["frobnicate"],
    ])
    func badArgumentsExitWithUsageCode(arguments: [String]) async throws {
        let process = try ChildProcess(arguments)
        defer { process.terminate() }
        let status = try await onHub(limit: .seconds(20)) {
            try await process.waitForExit(deadline: .after(.seconds(10)))
        }
        #expect(status == 2)
        #expect(process.errorText().contains("Usage:"))
    }

    @Test("--help exits 0", arguments: [["--help"], ["serve", "--help"], ["connect", "--help"]])
    func helpExitsZero(arguments: [String]) async throws {
        let process = try ChildProcess(arguments)
        defer { process.terminate() }
        let (status, output) = try await onHub(limit: .seconds(20)) { () -> (Int32, [UInt8]) in
            let output = try await process.readAllOutput(deadline: .after(.seconds(10)))
            return (try await process.waitForExit(deadline: .after(.seconds(10))), output)
        }
        #expect(status == 0)
        #expect(text(output).contains("USAGE:"))
    }
}

/// `greenio connect` end to end.
@Suite("CLI connect", .timeLimit(.minutes(1)))
struct CLIConnectTests {
    @Test("connect sends piped stdin to greenio serve and prints the echo; exit 0")
    func roundTripThroughServer() async throws {
        let server = try startServer()
        defer { server.terminate() }
        try await onHub(limit: .seconds(30)) {
            let port = try await server.listeningPort()
            let client = try ChildProcess(["connect", "127.0.0.1:\(port)"], pipeInput: true)
            defer { client.terminate() }
            let input = (1...3000).map { "line \($0): \(String(repeating: "z", count: $0 % 90))\n" }.joined() + "tail"
            try await client.writeInput(bytes(input), deadline: .after(.seconds(10)))
            client.closeInput()
            let output = try await client.readAllOutput(deadline: .after(.seconds(10)))
            let status = try await client.waitForExit(deadline: .after(.seconds(10)))
            #expect(output == bytes(input))
            #expect(status == 0, "stderr: \(client.errorText())")
        }
    }

    @Test("connect to a closed port exits non-zero with a one-line message")
    func connectionRefused() async throws {
        let client = try ChildProcess(["connect", "127.0.0.1:\(try closedPort())"])
        defer { client.terminate() }
        let status = try await onHub(limit: .seconds(20)) {
            try await client.waitForExit(deadline: .after(.seconds(10)))
        }
        let message = client.errorText()
        #expect(status != 0)
        #expect(message.hasSuffix("\n") && message.dropLast().split(separator: "\n").count == 1, "\(message)")
        #expect(message.contains("refused"), "\(message)")
    }

    @Test("connect --timeout gives up on a server that never answers, though stdin stays open")
    func readTimeout() async throws {
        try await onHub(limit: .seconds(20)) {
            let listener = try await Socket.listen(host: "127.0.0.1", port: 0)
            defer { listener.close() }
            guard let port = try listener.localAddress().port else { return }
            let client = try ChildProcess(["connect", "127.0.0.1:\(port)", "--timeout", "0.3"], pipeInput: true)
            defer { client.terminate() }
            let (silent, _) = try await listener.accept()
            defer { silent.close() }
            let start = Deadline.now
            let status = try await client.waitForExit(deadline: .after(.seconds(10)))
            let elapsed = seconds(since: start)
            #expect(status == 1)
            #expect(client.errorText().contains("timed out"), "\(client.errorText())")
            #expect(elapsed < 5, "exited after \(elapsed) s")
        }
    }
}

/// True if an IPv6 socket can be bound to `::1` here.
func ipv6LoopbackAvailable() -> Bool {
    let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in6()
    address.sin6_family = sa_family_t(AF_INET6)
    address.sin6_addr = in6addr_loopback
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0
        }
    }
}
