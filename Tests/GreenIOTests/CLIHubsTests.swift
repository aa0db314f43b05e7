import Glibc
import Testing
@testable import GreenIO

/// `greenio serve --hubs N`: several hubs, each with its own SO_REUSEPORT listener on one port.
@Suite("CLI hubs", .timeLimit(.minutes(1)))
struct CLIHubsTests {
    @Test("--hubs 2: 40 echo connections all echo, both hubs serve some, SIGTERM exits 0 with per-hub counts")
    func echoOnTwoHubs() async throws {
        let server = try startServer(["--hubs", "2"])
        defer { server.terminate() }
        let failures = try await onHub(limit: .seconds(40)) { () -> [String] in
            let port = try await server.listeningPort()
            // All 40 open at once, each from its own source port: the kernel's 4-tuple hash spreads
            // them over the two listeners.
            var sockets: [Socket] = []
            defer { sockets.forEach { $0.close() } }
            for _ in 0..<40 { sockets.append(try await connectToServer(port: port)) }
            var failures: [String] = []
            for (index, socket) in sockets.enumerated() {
                let line = "connection \(index)\n"
                try await socket.sendAll(bytes(line))
                let echoed = text(try await receive(socket, count: line.utf8.count))
                if echoed != line { failures.append("connection \(index) got \(echoed.debugDescription)") }
            }
            for socket in sockets { try socket.shutdown(.write) }
            for socket in sockets {
                let rest = try await receiveToEnd(socket)
                if !rest.isEmpty { failures.append("unexpected bytes: \(text(rest).debugDescription)") }
            }
            try await server.waitForErrorOutput(containing: "(end of stream)", deadline: .after(.seconds(5)))

            server.send(SIGTERM)
            let status = try await server.waitForExit(deadline: .after(.seconds(10)))
            if status != 0 { failures.append("exit status \(status)") }
            return failures
        }
        #expect(failures.isEmpty, "\(failures)")
        let log = server.errorText()
        #expect(log.contains("serving on 2 hubs"), "\(log)")
        let counts = try perHubCounts(log)
        #expect(counts.count == 2 && counts.reduce(0, +) == 40, "\(log)")
        #expect(counts.allSatisfy { $0 > 0 }, "both hubs must serve: \(counts)")
        for hub in 0..<2 {
            let opened = log.split(separator: "\n").filter { $0.hasPrefix("open ") && $0.hasSuffix(" hub=\(hub)") }
            #expect(opened.count == counts[hub], "hub \(hub): \(log)")
        }
    }

    @Test("--hubs 2 --protocol resp --tls: 20 redis-benchmark clients INCR one counter in the shared key space")
    func respOverTLSOnTwoHubs() async throws {
        let server = try startServer(["--hubs", "2", "--protocol", "resp", "--tls"])
        defer { server.terminate() }
        try await onHub(limit: .seconds(50)) {
            let (port, _) = try await server.tlsListening()
            let run = try await runRedisTool("redis-benchmark", [
                "-h", "127.0.0.1", "-p", "\(port)", "--tls", "--insecure",
                "-t", "incr", "-n", "4000", "-c", "20", "-P", "4", "-q",
            ], within: .seconds(40))
            #expect(run.status == 0, "\(run.errors)")
            #expect(benchmarkResults(run.output)["INCR"] != nil, "\(run.output)")
            // Every INCR, whichever hub ran it, reached the one counter.
            #expect(try await redisCLI(port: port, tls: true, "GET", "counter:__rand_int__") == "\"4000\"")

            server.send(SIGTERM)
            #expect(try await server.waitForExit(deadline: .after(.seconds(10))) == 0)
        }
        let counts = try perHubCounts(server.errorText())
        #expect(counts.count == 2 && counts.allSatisfy { $0 > 0 }, "\(server.errorText())")
    }

    @Test("--hubs 2 --balance least-connections: 10 connections held open are served 5 and 5, as the shutdown line and the open lines say")
    func leastConnectionsOnTwoHubs() async throws {
        let server = try startServer(["--hubs", "2", "--balance", "least-connections", "--drain", "0"])
        defer { server.terminate() }
        try await onHub(limit: .seconds(40)) {
            let port = try await server.listeningPort()
            var sockets: [Socket] = []
            defer { sockets.forEach { $0.close() } }
            for index in 0..<10 {
                let socket = try await connectToServer(port: port)
                sockets.append(socket)
                let line = "connection \(index)\n"
                try await socket.sendAll(bytes(line))
                #expect(text(try await receive(socket, count: line.utf8.count)) == line)
            }
            server.send(SIGTERM)
            #expect(try await server.waitForExit(deadline: .after(.seconds(10))) == 0)
        }
        let log = server.errorText()
        #expect(try perHubCounts(log) == [5, 5], "\(log)")
        for hub in 0..<2 {
            let opened = log.split(separator: "\n").filter { $0.hasPrefix("open ") && $0.hasSuffix(" hub=\(hub)") }
            #expect(opened.count == 5, "hub \(hub): \(log)")
        }
    }

    @Test("--hubs 0 is a usage error")
    func invalidHubCount() async throws {
        let server = try startServer(["--hubs", "0"])
        defer { server.terminate() }
        let status = try await onHub(limit: .seconds(20)) {
            try await server.waitForExit(deadline: .after(.seconds(10)))
        }
        #expect(status == 2)
        #expect(server.errorText().contains("--hubs must be in 1...256"), "\(server.errorText())")
    }
}

/// The counts of the shutdown line `connections per hub: hub0=A hub1=B …`, in hub order.
func perHubCounts(_ log: String) throws -> [Int] {
    let prefix = "connections per hub: "
    guard let line = log.split(separator: "\n").last(where: { $0.hasPrefix(prefix) }) else {
        throw ChildProcessError(description: "no per-hub counts in: \(log)")
    }
    return try line.dropFirst(prefix.count).split(separator: " ").enumerated().map { index, field in
        guard field.hasPrefix("hub\(index)="), let count = Int(field.dropFirst("hub\(index)=".count)) else {
            throw ChildProcessError(description: "bad per-hub count \(field) in: \(line)")
        }
        return count
    }
}
