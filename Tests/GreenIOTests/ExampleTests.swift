import Glibc
import Testing
@testable import GreenIO

@Suite("Examples", .timeLimit(.minutes(1)))
struct ExampleTests {
    @Test("smtp-example upgrades to TLS with STARTTLS, sends a message and exits 0")
    func smtpExample() async throws {
        let executable = String(greenioExecutable.dropLast("greenio".count)) + "smtp-example"
        let (output, status) = try await onHub(limit: .seconds(30)) {
            let child = try ChildProcess([], executable: executable)
            defer { child.terminate() }
            let output = try await child.readAllOutput(deadline: .after(.seconds(20)))
            return (text(output), try await child.waitForExit(deadline: .after(.seconds(10))))
        }
        #expect(status == 0, "\(output)")
        #expect(output.contains("S: 530 Must issue a STARTTLS command first"))
        #expect(output.contains("(client: TLS up, TLSv1.3"))
        #expect(output.contains("S: 250 OK: queued, 40 bytes for 1 recipient(s)"))
        #expect(output.contains("C: EHLO late.example\nS: 421 greenio shutting down\n"))
        #expect(output.hasSuffix("done\n"))
    }

    @Test("line-server: a TLS client's lines come back in capitals, an over-long line gets ERR, SIGTERM exits 0")
    func lineServer() async throws {
        let executable = String(greenioExecutable.dropLast("greenio".count)) + "line-server"
        let child = try ChildProcess(["0"], executable: executable)
        defer { child.terminate() }
        let status = try await onHub(limit: .seconds(40)) { () -> Int32 in
            try await child.waitForErrorOutput(containing: "listening on 127.0.0.1:", deadline: .after(.seconds(20)))
            let log = child.errorText()
            let start = try #require(log.range(of: "listening on 127.0.0.1:")).upperBound
            let port = try #require(Int(log[start...].prefix { $0.isNumber }))
            let context = try TLSContext.client(verification: .insecureNoVerification)
            let client = try await TLSSocket.connect(host: "127.0.0.1", port: port, context: context,
                                                     timeout: .timeout(.seconds(10)))
            defer { client.close() }
            let file = try client.makeReadWritePair()
            defer { file.reader.close() }
            try await file.write(bytes("hello, green world\n"))
            try await file.flush()
            #expect(text(try await file.readLine() ?? []) == "HELLO, GREEN WORLD\n")
            try await file.write([UInt8](repeating: UInt8(ascii: "x"), count: 2000) + bytes("\n"))
            try await file.flush()
            #expect(text(try await file.readLine() ?? []) == "ERR line too long\n")
            #expect(try await file.readLine() == [])
            try await child.waitForErrorOutput(containing: "(line too long)", deadline: .after(.seconds(10)))
            #expect(child.errorText().contains("hello"), "the handler's own log line")
            child.send(SIGTERM)
            return try await child.waitForExit(deadline: .after(.seconds(10)))
        }
        #expect(status == 0, "\(child.errorText())")
    }

    @Test("service-group-example: the server runs in a ServiceGroup, and SIGTERM drains it and ends the group with exit 0")
    func serviceGroupExample() async throws {
        let executable = String(greenioExecutable.dropLast("greenio".count)) + "service-group-example"
        let child = try ChildProcess(["0"], executable: executable)
        defer { child.terminate() }
        let (status, closedAfter) = try await onHub(limit: .seconds(40)) { () -> (Int32, Double) in
            try await child.waitForErrorOutput(containing: "listening on 127.0.0.1:", deadline: .after(.seconds(20)))
            let log = child.errorText()
            let start = try #require(log.range(of: "listening on 127.0.0.1:")).upperBound
            let port = try #require(Int(log[start...].prefix { $0.isNumber }))
            let client = try await connectToServer(port: port)
            defer { client.close() }
            #expect(try await echoCheck(client, "in a group\n", within: .seconds(5)) == nil)
            let signalled = Deadline.now
            child.send(SIGTERM)
            try await child.waitForErrorOutput(containing: "janitor: shutting down", deadline: .after(.seconds(10)))
            // The connection is served through the drain, then closed at its end (2 s).
            #expect(try await echoCheck(client, "draining\n", within: .seconds(5)) == nil)
            #expect(try await receiveToEnd(client, within: .seconds(10)).isEmpty)
            let closedAfter = seconds(since: signalled)
            return (try await child.waitForExit(deadline: .after(.seconds(10))), closedAfter)
        }
        #expect(status == 0, "\(child.errorText())")
        #expect(closedAfter > 1.5 && closedAfter < 6, "closed \(closedAfter) s after SIGTERM")
        #expect(child.errorText().contains("(server stopping)"))
        #expect(child.errorText().contains("all services stopped"))
    }
}
