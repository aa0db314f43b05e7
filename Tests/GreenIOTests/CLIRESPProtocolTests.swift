import Glibc
import Testing
@testable import GreenIO

/// `greenio serve --protocol resp` driven byte by byte by GreenIO sockets.
@Suite("CLI RESP protocol", .timeLimit(.minutes(1)))
struct CLIRESPProtocolTests {
    @Test("inline and multibulk commands, pipelined, answered in order; QUIT replies +OK and closes")
    func inlineMultibulkAndPipelining() async throws {
        let server = try startRESPServer()
        defer { server.terminate() }
        try await onHub(limit: .seconds(30)) {
            let socket = try await connectToServer(port: server.listeningPort())
            defer { socket.close() }
            let inline = "PING\r\nSET k v\r\nGET k\r\n\r\nECHO \t spaced \nEXISTS k k nokey\r\n"
            #expect(try await exchangeRESP(socket, inline, expecting: "+PONG\r\n+OK\r\n$1\r\nv\r\n$6\r\nspaced\r\n:2\r\n")
                        == "+PONG\r\n+OK\r\n$1\r\nv\r\n$6\r\nspaced\r\n:2\r\n")

            // Bulk strings are binary-safe: CR LF inside one is data.
            let binary = "*3\r\n$3\r\nSET\r\n$2\r\nk2\r\n$5\r\nhe\r\nl\r\n*0\r\n*2\r\n$3\r\nget\r\n$2\r\nk2\r\n"
            #expect(try await exchangeRESP(socket, binary, expecting: "+OK\r\n$5\r\nhe\r\nl\r\n")
                        == "+OK\r\n$5\r\nhe\r\nl\r\n")

            // 2000 commands in one send: 2000 replies, in order.
            let batch = (0..<2000).map { "*2\r\n$4\r\nECHO\r\n$\(String($0).count)\r\n\($0)\r\n" }.joined()
            let replies = (0..<2000).map { "$\(String($0).count)\r\n\($0)\r\n" }.joined()
            #expect(try await exchangeRESP(socket, batch, expecting: replies) == replies)

            #expect(try await exchangeRESP(socket, "QUIT\r\nPING\r\n", expecting: "+OK\r\n") == "+OK\r\n")
            #expect(try await receiveToEnd(socket).isEmpty)
        }
    }

    @Test("bulk strings of a few MiB (read in 1 MiB pieces) round trip byte for byte",
          arguments: [(1 << 20) - 2, (1 << 20) - 1, (3 << 20) + 5])
    func largeBulkStrings(length: Int) async throws {
        let server = try startRESPServer()
        defer { server.terminate() }
        try await onHub(limit: .seconds(30)) {
            let socket = try await connectToServer(port: server.listeningPort())
            defer { socket.close() }
            let value = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let request = bytes("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$\(length)\r\n") + value + bytes("\r\nGET big\r\n")
            try await socket.sendAll(request)
            let expected = bytes("+OK\r\n$\(length)\r\n") + value + bytes("\r\n")
            let reply = try await receive(socket, count: expected.count, within: .seconds(20))
            #expect(reply.count == expected.count)
            #expect(reply == expected)
        }
    }

    @Test("replies to complete commands are sent while the next command is still incomplete")
    func repliesBeforeAPartialCommand() async throws {
        let server = try startRESPServer()
        defer { server.terminate() }
        try await onHub(limit: .seconds(30)) {
            let socket = try await connectToServer(port: server.listeningPort())
            defer { socket.close() }
            // The rest of each last command is sent only once the earlier replies have come.
            #expect(try await exchangeRESP(socket, "PING\r\nPI", expecting: "+PONG\r\n") == "+PONG\r\n")
            #expect(try await exchangeRESP(socket, "NG\r\n*2\r\n$4\r\nECHO\r\n$5\r\nab", expecting: "+PONG\r\n")
                        == "+PONG\r\n")
            #expect(try await exchangeRESP(socket, "cde\r\n*1\r\n$4\r", expecting: "$5\r\nabcde\r\n")
                        == "$5\r\nabcde\r\n")
            #expect(try await exchangeRESP(socket, "\nPING\r\n", expecting: "+PONG\r\n") == "+PONG\r\n")
        }
    }

    @Test("a protocol violation gets -ERR Protocol error and closes only that connection",
          arguments: [
            ("*abc\r\n", "invalid multibulk length"),
            ("*2\r\n$3\r\nGET\r\n$1\r\nkXY\r\n", "expected CRLF after a bulk string of 1 bytes"),
            ("*1\r\nPING\r\n", "expected '$', got 'P'"),
            ("*1\r\n$-5\r\n", "invalid bulk length"),
          ])
    func protocolViolation(request: String, message: String) async throws {
        let server = try startRESPServer()
        defer { server.terminate() }
        try await onHub(limit: .seconds(30)) {
            let port = try await server.listeningPort()
            let good = try await connectToServer(port: port)
            defer { good.close() }
            #expect(try await exchangeRESP(good, "SET x 1\r\n", expecting: "+OK\r\n") == "+OK\r\n")

            let bad = try await connectToServer(port: port)
            defer { bad.close() }
            try await bad.sendAll(bytes("PING\r\n" + request))
            #expect(text(try await receiveToEnd(bad)) == "+PONG\r\n-ERR Protocol error: \(message)\r\n")
            // The log gives the reason without the client's bytes (the reply may quote them).
            let logged = message.components(separatedBy: ", got '")[0]
            try await server.waitForErrorOutput(containing: "(protocol error: \(logged))", deadline: .after(.seconds(5)))

            #expect(try await exchangeRESP(good, "GET x\r\n", expecting: "$1\r\n1\r\n") == "$1\r\n1\r\n")
        }
    }

    @Test("--max-bulk 10 accepts a 10-byte bulk string and rejects a 20-byte one")
    func maxBulk() async throws {
        let server = try startRESPServer(["--max-bulk", "10"])
        defer { server.terminate() }
        try await onHub(limit: .seconds(30)) {
            let port = try await server.listeningPort()
            let fits = try await connectToServer(port: port)
            defer { fits.close() }
            let ten = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\n0123456789\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
            #expect(try await exchangeRESP(fits, ten, expecting: "+OK\r\n$10\r\n0123456789\r\n")
                        == "+OK\r\n$10\r\n0123456789\r\n")

            let tooLong = try await connectToServer(port: port)
            defer { tooLong.close() }
            try await tooLong.sendAll(bytes("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$20\r\n01234567890123456789\r\n"))
            #expect(text(try await receiveToEnd(tooLong)) == "-ERR Protocol error: invalid bulk length\r\n")
            #expect(try await exchangeRESP(fits, "GET k\r\n", expecting: "$10\r\n0123456789\r\n")
                        == "$10\r\n0123456789\r\n")
        }
    }

    @Test("--timeout closes an idle connection without a reply; --max-line rejects a longer line")
    func timeoutAndMaxLine() async throws {
        let server = try startRESPServer(["--timeout", "0.5", "--max-line", "64"])
        defer { server.terminate() }
        try await onHub(limit: .seconds(30)) {
            let port = try await server.listeningPort()
            let idle = try await connectToServer(port: port)
            defer { idle.close() }
            #expect(try await exchangeRESP(idle, "PING\r\n", expecting: "+PONG\r\n") == "+PONG\r\n")
            let start = Deadline.now
            #expect(try await receiveToEnd(idle).isEmpty)
            #expect(seconds(since: start) > 0.3)
            try await server.waitForErrorOutput(containing: "(timeout)", deadline: .after(.seconds(5)))

            let long = try await connectToServer(port: port)
            defer { long.close() }
            try await long.sendAll(bytes("ECHO " + String(repeating: "a", count: 100) + "\r\n"))
            #expect(text(try await receiveToEnd(long)) == "-ERR Protocol error: line longer than 64 bytes\r\n")
        }
    }

    @Test("over TLS: GreenIO's TLS client pipelines commands through makeReadWritePair")
    func overTLS() async throws {
        let server = try startRESPServer(["--tls"])
        defer { server.terminate() }
        try await onHub(limit: .seconds(30)) {
            let (port, _) = try await server.tlsListening()
            let tls = try await connectTLS(port: port, verification: .insecureNoVerification)
            defer { tls.close() }
            let file = try tls.makeReadWritePair()
            defer { file.reader.close() }
            let value = String(repeating: "v", count: 50_000)
            try await file.write(bytes("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$50000\r\n\(value)\r\nGET big\r\nINCR n\r\nINCR n\r\n"))
            try await file.flush()
            #expect(try await file.readLine() == bytes("+OK\r\n"))
            #expect(try await file.readLine() == bytes("$50000\r\n"))
            #expect(try await file.read(50_002) == bytes(value + "\r\n"))
            #expect(try await file.readLine() == bytes(":1\r\n"))
            #expect(try await file.readLine() == bytes(":2\r\n"))
            try await file.write(bytes("QUIT\r\n"))
            try await file.flush()
            #expect(try await file.readLine() == bytes("+OK\r\n"))
            #expect(try await file.read() == [])
        }
    }
}
