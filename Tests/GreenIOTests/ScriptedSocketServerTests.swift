import Testing
import GreenIO
import GreenIOTesting
@testable import GreenIOServer

// A GreenIOServer handler driven by a ScriptedSocket, without a listener. `ServerConnection`'s
// initializer is internal (a handler only ever gets one from a `Server`), so these tests reach it
// through `@testable import`; code outside this package cannot do that (see the report).

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
    let state = ServerState(configuration: configuration, handler: shout)
    let file = try socket.makeReadWritePair(bufferSize: policy.bufferSize)
    return ServerConnection(socket: socket, peer: .ipv4(host: "192.0.2.7", port: 40_000), proxied: nil, hubIndex: 0,
                            file: file, firstDeadline: policy.lineTimeout.map { .after($0) }, server: state)
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
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try ScriptedSocket.pair(aToB: Script().at(3, .pause(.seconds(30))), timeout: .blocking)
            defer { client.close(); server.close() }
            try await client.sendAll(bytes("hello\n"))
            var policy = ConnectionPolicy()
            policy.lineTimeout = .milliseconds(200)
            let connection = try serverConnection(server, policy: policy)
            defer { connection.file.reader.close() }
            let start = ContinuousClock.now
            await expectIOError(.timedOut) { try await shout(connection) }
            #expect(secondsSince(start) >= 0.15 && secondsSince(start) < 5)
            #expect(connection.reader.bufferedByteCount == 3)  // "hel" kept
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
