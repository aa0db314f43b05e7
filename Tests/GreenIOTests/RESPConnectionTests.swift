import Testing
@testable import GreenIO
@testable import GreenIORESP

/// `RESPConnection`, GreenIORESP's command loop, over a socket pair: each way it ends, pipelined
/// replies, and the per-command deadline.
@Suite("RESP connection loop", .timeLimit(.minutes(1)))
struct RESPConnectionTests {
    /// Sends `request` (then ends the stream if `end`), serves the other side, then flushes what the
    /// loop left in the writer and closes it.
    /// - Returns: how the loop ended, everything the client received, and how often it asked for a deadline.
    private func serve(_ request: String, end: Bool = true, firstDeadline: Deadline? = nil,
                       timeout: Duration? = nil) async throws -> (RESPEnd, String, Int) {
        try await onHub(limit: .seconds(20)) {
            let (server, client) = try Socket.pair()
            defer { server.close(); client.close() }
            try await client.sendAll(bytes(request))
            if end { try client.shutdown(.write) }
            let file = try server.makeReadWritePair()
            let connection = RESPConnection(commands: RESPCommands(store: RESPStore()),
                                            decoder: RESPDecoder(maxLine: 64, maxBulk: 1 << 20))
            var asked = 0
            let result = try await connection.serve(file: file, firstDeadline: firstDeadline) {
                asked += 1
                return timeout.map { Deadline.after($0) }
            }
            try await file.close()
            server.close()
            var received: [UInt8] = []
            while true {
                let piece = try await client.recv(65536)
                if piece.isEmpty { break }
                received += piece
            }
            return (result, text(received), asked)
        }
    }

    @Test("pipelined commands are answered in order; the stream's end ends it, dropping a command cut short")
    func endOfStream() async throws {
        let (end, replies, asked) = try await serve("PING\r\nSET k v\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPI")
        #expect(end == .endOfStream)
        #expect(replies == "+PONG\r\n+OK\r\n$1\r\nv\r\n")
        #expect(asked == 3)
    }

    @Test("QUIT is answered +OK and ends it; what follows is not read")
    func quit() async throws {
        let (end, replies, _) = try await serve("PING\r\nQUIT\r\nPING\r\n")
        #expect(end == .quit)
        #expect(replies == "+PONG\r\n+OK\r\n")
    }

    @Test("a protocol error is answered -ERR Protocol error after the earlier replies, and ends it")
    func protocolError() async throws {
        let (end, replies, _) = try await serve("PING\r\n*1\r\nPING\r\n")
        #expect(end == .protocolError(RESPProtocolError("expected '$'", quoting: "P")))
        #expect(replies == "+PONG\r\n-ERR Protocol error: expected '$', got 'P'\r\n")
    }

    @Test("a command that does not arrive within its deadline, renewed after the previous one, ends it without a reply")
    func timeout() async throws {
        // The first command's deadline is a minute away: only the renewed one (200 ms after PING) can
        // end it within the test's 20 s.
        let (end, replies, asked) = try await serve("PING\r\nPI", end: false, firstDeadline: .after(.seconds(60)),
                                                   timeout: .milliseconds(200))
        #expect(end == .timeout)
        #expect(replies == "+PONG\r\n")
        #expect(asked == 1)
    }
}
