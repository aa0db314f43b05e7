import Glibc
import GreenIO
import Testing

/// `greenio serve --drain`: what SIGTERM does to the connections a server has open.
@Suite("CLI drain", .timeLimit(.minutes(1)))
struct CLIDrainTests {
    @Test("--drain 2: a client mid-line at SIGTERM gets its echo, a new connection is refused, connections still open after the drain are closed, exit 0 within drain + 1 s")
    func sigtermDrainsThenCloses() async throws {
        let server = try startServer(["--drain", "2"])
        defer { server.terminate() }
        let (status, exitAfter, closedAfter) = try await onHub(limit: .seconds(30)) { () -> (Int32, Double, Double) in
            let port = try await server.listeningPort()
            let busy = try await connectToServer(port: port)
            defer { busy.close() }
            let idle = try await connectToServer(port: port)
            defer { idle.close() }
            #expect(try await echoCheck(busy, "first\n", within: .seconds(5)) == nil)
            #expect(try await echoCheck(idle, "hello\n", within: .seconds(5)) == nil)
            try await busy.sendAll(bytes("mid"))
            try await server.waitForErrorOutput(containing: "open ", deadline: .after(.seconds(5)))

            let signalled = Deadline.now
            server.send(SIGTERM)
            try await waitUntilRefused(port: port)
            try await busy.sendAll(bytes("line\n"))
            #expect(text(try await receive(busy, count: 8, within: .seconds(5))) == "midline\n")
            #expect(try await echoCheck(idle, "still here\n", within: .seconds(5)) == nil)

            #expect(try await receiveToEnd(idle, within: .seconds(10)).isEmpty)
            #expect(try await receiveToEnd(busy, within: .seconds(10)).isEmpty)
            let closedAfter = seconds(since: signalled)
            let status = try await server.waitForExit(deadline: .after(.seconds(10)))
            return (status, seconds(since: signalled), closedAfter)
        }
        #expect(status == 0, "stderr: \(server.errorText())")
        #expect(closedAfter > 1.7, "the open connections were closed \(closedAfter) s after SIGTERM, before the drain ended")
        #expect(exitAfter < 3.0, "exited \(exitAfter) s after SIGTERM")
        let log = server.errorText()
        #expect(log.components(separatedBy: "(server stopping)").count - 1 == 2, "\(log)")
        #expect(log.contains("SIGTERM received, stopping"))
    }
}
