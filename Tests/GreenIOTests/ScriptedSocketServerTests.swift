import Testing
import GreenIO
import GreenIOServer
import GreenIOTesting

// A GreenIOServer handler driven by a ScriptedSocket, without a listener, through the public
// `ServerConnection(socket:peer:configuration:)`, on virtual time: timeouts are exact.

/// An upper-casing line echo: the kind of protocol handler these tests exercise.
@Sendable private func shout(_ connection: ServerConnection) async throws -> CloseReason {
    while true {
        let line = try await connection.readLine()
        if line.isEmpty { return .endOfStream }
        try await connection.writeAndFlush(Array(String(decoding: line, as: UTF8.self).uppercased().utf8))
    }
}

/// The connection a server would hand `shout` for `socket`, with `policy`.
private func serverConnection(_ socket: any RawSocket, policy: ConnectionPolicy = ConnectionPolicy()) throws -> ServerConnection {
    var configuration = ServerConfiguration(port: 0)
    configuration.policy = policy
    return try ServerConnection(socket: socket, peer: .ipv4(host: "192.0.2.7", port: 40_000), configuration: configuration)
}

@Suite("ScriptedSocket: a server handler without a listener", .serialized, .timeLimit(.minutes(1)))
struct ScriptedSocketServerTests {
    @Test func theHandlerAnswersLinesDeliveredByteByByte() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try ScriptedSocket.pair(aToB: Script(chunkSize: 1), bToA: Script(sendWindow: 3),
                                                           timeout: .timeout(.seconds(5)))
            defer { client.close() }
            try await client.sendAll(bytes("hello\nworld\n"))
            try client.shutdown(.write)
            let connection = try serverConnection(server)
            let reader = Hub.current!.spawn { () -> [UInt8] in
                var got: [UInt8] = []
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
                defer { buffer.deallocate() }
                while case .completed(let n) = try await client.receive(into: buffer, deadline: .after(.seconds(5))), n > 0 {
                    got += buffer[0..<n]
                }
                return got
            }
            let reason = try await shout(connection)
            connection.file.reader.close()
            server.close()
            #expect(reason == .endOfStream)
            #expect(try await reader.value == bytes("HELLO\nWORLD\n"))
            #expect(server.sent == bytes("HELLO\nWORLD\n"))
            #expect(connection.requestCount == 2)
        }
    }

    @Test func aClientThatStallsMidLineHitsTheLineTimeout() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            let (client, server) = try ScriptedSocket.pair(aToB: Script().at(3, .pause(.seconds(30))), timeout: .blocking)
            defer { client.close(); server.close() }
            try await client.sendAll(bytes("hello\n"))
            var policy = ConnectionPolicy()
            policy.lineTimeout = .seconds(10)
            let connection = try serverConnection(server, policy: policy)
            defer { connection.file.reader.close() }
            await expectIOError(.timedOut) { _ = try await shout(connection) }
            #expect(time.elapsed == .seconds(10))
            #expect(connection.reader.bufferedByteCount == 3)  // "hel" kept
        }
    }

    @Test("an SMTP-style 5-minute idle timeout, renewed by each command, tested in milliseconds")
    func idleTimeoutRenewedPerCommand() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            let (client, server) = try ScriptedSocket.pair(
                aToB: Script().at(6, .pause(.seconds(299))).at(12, .pause(.seconds(120))),
                timeout: .timeout(.seconds(600)))
            defer { client.close(); server.close() }
            try await client.sendAll(bytes("HELO\r\nNOOP\r\n"))
            var configuration = ServerConfiguration(port: 0)
            configuration.policy.lineTimeout = .seconds(5 * 60)
            let connection = try ServerConnection(socket: server, peer: .ipv4(host: "192.0.2.7", port: 25),
                                                  configuration: configuration)
            defer { connection.file.reader.close() }
            #expect(try await connection.readLine() == bytes("HELO\r\n"))
            #expect(time.elapsed == .zero)
            // The second command comes 299 s later: inside the 5 minutes.
            #expect(try await connection.readLine() == bytes("NOOP\r\n"))
            #expect(time.elapsed == .seconds(299))
            // Then nothing: the connection is idle 5 minutes after the last command.
            let error = await expectIOError(.timedOut) { _ = try await connection.readLine() }
            #expect(time.elapsed == .seconds(299 + 300))
            #expect(CloseReason.forError(error ?? IOError.timedOut(), sending: false).kind == .timeout)
        }
    }

    @Test func aResetMidRequestReachesTheHandlerAsAnError() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try ScriptedSocket.pair(aToB: Script(ending: .reset), timeout: .timeout(.seconds(5)))
            defer { server.close() }
            try await client.sendAll(bytes("partial"))
            client.close()
            let connection = try serverConnection(server)
            defer { connection.file.reader.close() }
            let error = await expectIOError(.system) { try await shout(connection) }
            #expect(error?.errno == .connectionReset)
            #expect(CloseReason.forError(error ?? IOError.timedOut(), sending: false) == .reset)
        }
    }
}
