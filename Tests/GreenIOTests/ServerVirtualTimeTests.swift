import Glibc
import GreenIO
import GreenIOServer
import GreenIOTesting
import Testing

/// A `Server` on the current hub (`startOnCurrentHub`) on virtual time, with real TCP clients on
/// the same hub: its handshake timeout, line timeout and drain are exact, and take no real time.
@Suite("Server on virtual time", .serialized, .timeLimit(.minutes(1)))
struct ServerVirtualTimeTests {
    /// A line echo.
    static let echo: ServerConnectionHandler = { connection in
        while true {
            let line = try await connection.readLine()
            if line.isEmpty { return .endOfStream }
            try await connection.writeAndFlush(line)
        }
    }

    /// A server with `policy` on the current hub, on a loopback port of its own.
    static func startServer(_ policy: ConnectionPolicy, tls: TLSContext? = nil) async throws -> (Server, Int) {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0, tls: tls)
        configuration.policy = policy
        let server = try Server(configuration: configuration, handler: echo)
        try await server.startOnCurrentHub()
        return (server, server.localAddresses.first?.port ?? 0)
    }

    /// A client socket on the current hub, Nagle off (nothing may wait for real time).
    static func connect(_ port: Int) async throws -> Socket {
        let client = try Socket(family: AF_INET)
        try client.setTimeout(.timeout(.seconds(3600)))
        try await client.connect(to: .ipv4(host: "127.0.0.1", port: port))
        try client.setOption(.noDelay, true)
        return client
    }

    @Test("the line timeout: a client idle 300 s after its last line is closed at exactly 300 s")
    func lineTimeout() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            var policy = ConnectionPolicy()
            policy.lineTimeout = .seconds(300)
            let (server, port) = try await Self.startServer(policy)
            let client = try await Self.connect(port)
            defer { client.close() }
            let reader = try client.makeReader()
            try await Hub.sleep(for: .seconds(100))
            try await client.sendAll(Array("hello\n".utf8))
            #expect(try await reader.readLine() == Array("hello\n".utf8))
            #expect(time.elapsed == .seconds(100))
            #expect(try await reader.readLine() == [], "closed by the server")
            #expect(time.elapsed == .seconds(400))
            server.stop()
            try await server.waitUntilStopped()
        }
    }

    @Test("the process-wide default timeout (setDefault 1 s) governs neither the listener nor the connections: the policy's deadlines do")
    func defaultTimeoutDoesNotApply() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            let (server, port) = try await Self.startServer(ConnectionPolicy())
            let client: Socket
            do {
                // Only while the server accepts: other suites of this process make sockets too.
                try TimeoutMode.setDefault(.timeout(.seconds(1)))
                defer { try? TimeoutMode.setDefault(.blocking) }
                client = try await Self.connect(port)
                try await client.sendAll(Array("ping\n".utf8))
                #expect(try await client.recv(100) == Array("ping\n".utf8))
            }
            defer { client.close() }
            try await Hub.sleep(for: .seconds(100))
            try await client.sendAll(Array("again\n".utf8))
            #expect(try await client.recv(100) == Array("again\n".utf8), "still served after 100 s idle")
            let second = try await Self.connect(port)
            defer { second.close() }
            try await second.sendAll(Array("new\n".utf8))
            #expect(try await second.recv(100) == Array("new\n".utf8), "still accepting after 100 s idle")
            #expect(time.elapsed == .seconds(100))
            server.stop()
            try await server.waitUntilStopped()
        }
    }

    @Test("the TLS handshake timeout: a client that connects and never speaks is closed at exactly 10 s")
    func handshakeTimeout() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            var policy = ConnectionPolicy()
            policy.handshakeTimeout = .seconds(10)
            let (server, port) = try await Self.startServer(policy, tls: try tlsServerContext())
            let client = try await Self.connect(port)
            defer { client.close() }
            #expect(try await client.recv(100) == [], "closed without a byte")
            #expect(time.elapsed == .seconds(10))
            server.stop()
            try await server.waitUntilStopped()
        }
    }

    @Test("the drain: with a 60 s drain period, stop(drainPeriod: 30 s) leaves an idle connection 30 s, then cancels it; the server has stopped at exactly 30 s")
    func drain() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            var policy = ConnectionPolicy()
            policy.drainPeriod = .seconds(60)
            let (server, port) = try await Self.startServer(policy)
            let client = try await Self.connect(port)
            defer { client.close() }
            let reader = try client.makeReader()
            try await client.sendAll(Array("ping\n".utf8))
            #expect(try await reader.readLine() == Array("ping\n".utf8))
            server.stop(drainPeriod: .seconds(30))
            #expect(server.isDraining)
            // A connection made now is refused: the listener is closed.
            await #expect(throws: IOError.self) { _ = try await Self.connect(port) }
            try await server.waitUntilStopped()
            #expect(time.elapsed == .seconds(30))
            #expect(try await reader.readLine() == [], "the drained connection was closed")
        }
    }
}
