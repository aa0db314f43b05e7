import Glibc
import Testing
@testable import GreenIO

/// ADV-09, in the same serialized suite as the other attacks. Security default: what
/// `greenio serve` writes (start line, connection log, shutdown) never holds bytes a client sent,
/// however the connection goes or ends.
extension AdversarialServeTests {
    @Test("ADV-09 logs never contain payload bytes: echoed, over-long, timed out, protocol errors, FIN, RST",
          arguments: ServeFlavor.all)
    func logsHoldNoPayload(flavor: ServeFlavor) async throws {
        // A fresh token each run. It starts with "~", which no log line uses, so that a log quoting
        // even the first byte of the payload (as an error message might) is caught too.
        let token = "~SECRET-PAYLOAD-" + String(UInt64.random(in: 1...UInt64.max), radix: 16)
        let limits = ["--timeout", "1", "--max-line", "4096"] + (flavor.resp ? ["--max-bulk", "4096"] : [])
        let server = try startServer(flavor.options + limits)
        defer { server.terminate() }
        let (output, status) = try await onHub(limit: .seconds(50)) { () -> ([UInt8], Int32) in
            let target = try await ServerUnderAttack(server, flavor)
            try await whileServingOthers(target) { try await sendPayloads(token, to: target) }
            server.send(SIGTERM)
            let output = try await server.readAllOutput(deadline: .after(.seconds(10)))
            return (output, try await server.waitForExit(deadline: .after(.seconds(10))))
        }
        let logs = text(output) + server.errorText()
        #expect(status == 0, "\(logs)")
        #expect(logs.contains("connections per hub:"), "the log was not read to its end: \(logs)")
        #expect(!logs.contains(token), "\(logs)")
        #expect(!logs.contains("SECRET"), "\(logs)")
        #expect(!logs.contains("~"), "\(logs)")
    }

    /// Sends every request of `payloadRequests` on a connection of its own, each checked for its
    /// reply, then has the Python peer end connections in the middle of the payload.
    private func sendPayloads(_ token: String, to target: ServerUnderAttack) async throws {
        let flavor = target.flavor
        for request in payloadRequests(token, resp: flavor.resp) {
            let connection = try await target.attackerConnection()
            defer { connection.close() }
            try await connection.sendAll(bytes(request.bytes))
            if request.endsStream { try connection.shutdown(.write) }
            let outcome = await awaitServerClose(connection, within: .seconds(10))
            #expect(outcome.closedByServer, "\(request.name): \(outcome.error ?? "still open")")
            let received = text(outcome.received)
            #expect(request.reply.isEmpty ? received.isEmpty : received.contains(request.reply),
                    "\(request.name): \(received.prefix(200))")
        }
        for ending in AbruptEnding.allCases where flavor.tls || ending != .closeNotify {
            let peer = try await runAbruptPeer(port: target.port, tls: flavor.tls, ending: ending, data: token)
            _ = try await target.closeReason(of: peer)
        }
    }
}

/// One request of ADV-09 and the reply it must get before the server closes the connection.
struct PayloadRequest {
    var name: String
    var bytes: String
    /// Text the replies must contain (the payload itself, when it is echoed).
    var reply: String
    /// End the client's side after sending, rather than waiting for the server to close.
    var endsStream = false
}

/// Requests that carry `token` in every place the server reads: echoed, too long, left pending
/// until the timeout, and for RESP as keys, values, commands and the bytes a protocol error is about.
func payloadRequests(_ token: String, resp: Bool) -> [PayloadRequest] {
    let long = String(repeating: token, count: 8192 / token.utf8.count + 1)
    let length = token.utf8.count
    guard resp else {
        return [
            PayloadRequest(name: "echoed", bytes: "\(token)\n\(token) again\nunterminated \(token)",
                           reply: "\(token)\n\(token) again\nunterminated \(token)", endsStream: true),
            PayloadRequest(name: "over-long", bytes: long, reply: "ERR line too long\n"),
            PayloadRequest(name: "timed out", bytes: token, reply: "ERR timeout\n"),
        ]
    }
    return [
        PayloadRequest(name: "commands",
                       bytes: "SET \(token) \(token)\r\nGET \(token)\r\nECHO \(token)\r\n\(token) arg\r\nQUIT\r\n",
                       reply: "+OK\r\n$\(length)\r\n\(token)\r\n$\(length)\r\n\(token)\r\n-ERR unknown command"),
        PayloadRequest(name: "multibulk", bytes: "*2\r\n$4\r\nECHO\r\n$\(length)\r\n\(token)\r\n", reply: token, endsStream: true),
        PayloadRequest(name: "no '$'", bytes: "*1\r\n\(token)\r\n", reply: "-ERR Protocol error: expected '$'"),
        PayloadRequest(name: "no CRLF", bytes: "*1\r\n$4\r\n\(token)\r\n", reply: "-ERR Protocol error: expected CRLF"),
        PayloadRequest(name: "bad length", bytes: "*1\r\n$\(token)\r\n", reply: "-ERR Protocol error: invalid bulk length"),
        PayloadRequest(name: "over --max-bulk", bytes: "*1\r\n$8192\r\n\(long)", reply: "-ERR Protocol error: invalid bulk length"),
        PayloadRequest(name: "over-long", bytes: long, reply: "-ERR Protocol error: line longer than 4096 bytes"),
        PayloadRequest(name: "timed out", bytes: "*1\r\n$\(length)\r\n\(token)", reply: ""),
    ]
}
