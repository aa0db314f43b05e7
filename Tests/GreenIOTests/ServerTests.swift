import Glibc
import GreenIO
import GreenIOServer
import Logging
import MetricsTestKit
import Testing

@Suite("GreenIOServer", .timeLimit(.minutes(1)))
struct ServerTests {
    @Test("logging at notice: a connection is served without open or close events, and its handler's logger still names the peer")
    func noticeLevelLogsNoConnections() async throws {
        let store = LogStore()
        let (server, port) = try startTestServer(configure: {
            $0.logger = collectingLogger(store)
            $0.logger.logLevel = .notice
        }, handler: { connection in
            connection.logger.notice("served")
            return try await echoLines(connection)
        })
        try await onHub {
            let socket = try await connectToServer(port: port)
            defer { socket.close() }
            #expect(try await echoCheck(socket, "quiet\n", within: .seconds(5)) == nil)
            socket.close()
            try await waitUntil("the connection's end") { server.activeConnectionCount == 0 }
        }
        try await stopTestServer(server)
        let events = store.events
        #expect(!events.contains { $0.message.hasPrefix("open ") || $0.message.hasPrefix("close ") })
        let served = try #require(events.first { $0.message == "served" })
        #expect(served.metadata["peer"] != nil && served.metadata["hub"] == "0")
    }

    @Test("logging: open and close carry the peer and hub metadata, and no log event contains payload bytes")
    func loggingNamesThePeerNeverThePayload() async throws {
        let store = LogStore()
        let (server, port) = try startTestServer { $0.logger = collectingLogger(store) }
        let clientAddress = try await onHub {
            let socket = try await connectToServer(port: port)
            defer { socket.close() }
            #expect(try await echoCheck(socket, "secret-payload-4711\n", within: .seconds(5)) == nil)
            let address = try socket.localAddress()
            socket.close()
            try await waitUntil("the close line") { store.events.contains { $0.message.hasPrefix("close ") } }
            return address
        }
        try await stopTestServer(server)
        let events = store.events
        let open = try #require(events.first { $0.message.hasPrefix("open ") })
        #expect(open.message == "open \(clientAddress)")
        #expect(open.metadata["peer"] == "\(clientAddress)")
        #expect(open.metadata["hub"] == "0")
        let close = try #require(events.first { $0.message.hasPrefix("close ") })
        #expect(close.message == "close \(clientAddress) (end of stream)")
        #expect(close.metadata["peer"] == "\(clientAddress)")
        #expect(events.contains { $0.message.hasPrefix("listening on 127.0.0.1:\(port)") })
        #expect(events.contains { $0.message == "stopped" })
        #expect(!events.contains { $0.allText.contains("secret-payload") }, "\(events.map(\.allText))")
    }

    @Test("ServerConnection.log and logger: the handler's own events carry the peer and hub metadata")
    func handlerLoggingCarriesThePeer() async throws {
        let store = LogStore()
        let (server, port) = try startTestServer(configure: { $0.logger = collectingLogger(store) }) { connection in
            connection.log(.notice, "handler says hello")
            connection.logger.debug("and debug through the logger")
            return try await echoLines(connection)
        }
        let clientAddress = try await onHub {
            let socket = try await connectToServer(port: port)
            defer { socket.close() }
            #expect(try await echoCheck(socket, "hi\n", within: .seconds(5)) == nil)
            return try socket.localAddress()
        }
        try await stopTestServer(server)
        let hello = try #require(store.events.first { $0.message == "handler says hello" })
        #expect(hello.level == .notice)
        #expect(hello.metadata["peer"] == "\(clientAddress)")
        #expect(hello.metadata["hub"] == "0")
        let debug = try #require(store.events.first { $0.message == "and debug through the logger" })
        #expect(debug.metadata["peer"] == "\(clientAddress)")
    }

    @Test("metrics: accepted, active, closed by reason, requests, bytes and timeouts move")
    func metricsMove() async throws {
        let metrics = TestMetrics()
        let (server, port) = try startTestServer {
            $0.metricsFactory = metrics
            $0.policy.lineTimeout = .milliseconds(300)
        }
        try await onHub {
            let socket = try await connectToServer(port: port)
            for line in ["one\n", "two\n", "three\n"] {
                #expect(try await echoCheck(socket, line, within: .seconds(5)) == nil)
            }
            socket.close()
            let idle = try await connectToServer(port: port)  // sends nothing: the line timeout closes it
            defer { idle.close() }
            #expect(try await receiveToEnd(idle, within: .seconds(5)).isEmpty)
            try await waitUntil("two closes counted") {
                let closed = (try? metrics.expectCounter("greenio_connections_closed_total", [("reason", "end_of_stream")]).totalValue) ?? 0
                let timedOut = (try? metrics.expectCounter("greenio_connections_closed_total", [("reason", "timeout")]).totalValue) ?? 0
                return closed == 1 && timedOut == 1
            }
        }
        try await stopTestServer(server)
        #expect(try metrics.expectCounter("greenio_connections_accepted_total").totalValue == 2)
        #expect(try metrics.expectCounter("greenio_requests_total").totalValue == 3)
        #expect(try metrics.expectCounter("greenio_bytes_received_total").totalValue == 14)
        #expect(try metrics.expectCounter("greenio_bytes_sent_total").totalValue == 14)
        #expect(try metrics.expectCounter("greenio_timeouts_total").totalValue == 1)
        let active = try metrics.expectGauge("greenio_connections_active")
        #expect(active.values.contains(1.0))
        #expect(active.lastValue == 0)
    }

    @Test("writeAndFlush: a greeting array, then each run of lines lent by withCompleteLines sent from the reader's buffer; lines counted, nothing left buffered")
    func writeAndFlushReplies() async throws {
        let metrics = TestMetrics()
        let (server, port) = try startTestServer(configure: { $0.metricsFactory = metrics }) { connection in
            try await connection.write(Array("hello ".utf8))
            try await connection.writeAndFlush(Array("there\n".utf8))
            while try await connection.withCompleteLines({ lines in
                if lines.isEmpty { return false }
                try await connection.writeAndFlush(lines)
                return true
            }) {
                #expect(connection.writer.bufferedByteCount == 0)
            }
            return .endOfStream
        }
        try await onHub {
            let socket = try await connectToServer(port: port)
            defer { socket.close() }
            #expect(try await receive(socket, count: 12) == bytes("hello there\n"))
            try await socket.sendAll(bytes("one\ntwo\nthr"))
            #expect(try await receive(socket, count: 8) == bytes("one\ntwo\n"))
            try await socket.sendAll(bytes("ee\nfour"))
            #expect(try await receive(socket, count: 6) == bytes("three\n"))
            try socket.shutdown(.write)
            #expect(try await receiveToEnd(socket) == bytes("four"))
        }
        try await stopTestServer(server)
        #expect(try metrics.expectCounter("greenio_requests_total").totalValue == 4)
    }

    @Test("max connections: the next client waits in the backlog, then is served when one closes")
    func maxConnectionsHoldsClientsInTheBacklog() async throws {
        let (server, port) = try startTestServer { $0.policy.maxConnections = 2 }
        try await onHub {
            let first = try await connectToServer(port: port)
            defer { first.close() }
            let second = try await connectToServer(port: port)
            defer { second.close() }
            #expect(try await echoCheck(first, "1\n", within: .seconds(5)) == nil)
            #expect(try await echoCheck(second, "2\n", within: .seconds(5)) == nil)
            #expect(server.activeConnectionCount == 2)
            // The kernel completes the third handshake (the backlog), but the server does not accept.
            let third = try await connectToServer(port: port)
            defer { third.close() }
            try await third.sendAll(bytes("3\n"))
            await expectIOError(.timedOut) { try await receive(third, count: 2, within: .milliseconds(500)) }
            #expect(server.activeConnectionCount == 2)
            first.close()
            #expect(text(try await receive(third, count: 2, within: .seconds(5))) == "3\n")
            #expect(server.acceptedCountPerHub == [3])
        }
        try await stopTestServer(server)
    }

    @Test("handshake deadline: a client that never finishes its TLS handshake is closed")
    func handshakeDeadlineClosesSilentClients() async throws {
        let store = LogStore()
        let context = try TLSContext.server(identity: TLSIdentity.selfSigned())
        let (server, port) = try startTestServer {
            $0.tls = context
            $0.logger = collectingLogger(store)
            $0.policy.handshakeTimeout = .milliseconds(400)
        }
        try await onHub {
            let silent = try await connectToServer(port: port)  // plain TCP: no ClientHello, ever
            defer { silent.close() }
            let start = Deadline.now
            #expect(try await receiveToEnd(silent, within: .seconds(5)).isEmpty)
            let elapsed = seconds(since: start)
            #expect(elapsed > 0.3 && elapsed < 4, "closed after \(elapsed) s")
            try await waitUntil("the close line") { store.events.contains { $0.message.hasPrefix("close ") } }
            // A real client still gets through.
            let client = try await TLSSocket.connect(host: "127.0.0.1", port: port,
                                                     context: TLSContext.client(verification: .insecureNoVerification),
                                                     timeout: .timeout(.seconds(5)))
            defer { client.close() }
            #expect(try await echoCheck(client, "over tls\n", within: .seconds(5)) == nil)
        }
        try await stopTestServer(server)
        #expect(store.events.contains { $0.message.hasSuffix("(tls handshake timed out)") }, "\(store.events.map(\.message))")
    }

    @Test("stop: listeners close at once, a handler sees isDraining, the drain ends by cancelling the rest")
    func stopDrainsThenCancels() async throws {
        let (server, port) = try startTestServer(configure: { $0.policy.drainPeriod = .seconds(1) }) { connection in
            while true {
                let line = try await connection.readLine()
                if line.isEmpty { return .endOfStream }
                try await connection.write(connection.isDraining ? bytes("draining\n") : line)
                try await connection.flush()
            }
        }
        try await onHub {
            let client = try await connectToServer(port: port)
            defer { client.close() }
            #expect(try await echoCheck(client, "before\n", within: .seconds(5)) == nil)
            let stopped = Deadline.now
            server.stop()
            #expect(server.isDraining)
            try await waitUntilRefused(port: port)
            try await client.sendAll(bytes("after\n"))
            #expect(text(try await receive(client, count: 9, within: .seconds(5))) == "draining\n")
            #expect(try await receiveToEnd(client, within: .seconds(5)).isEmpty)  // cancelled at the drain's end
            let elapsed = seconds(since: stopped)
            #expect(elapsed > 0.8 && elapsed < 4, "closed \(elapsed) s after the stop")
        }
        try await server.waitUntilStopped()
        #expect(server.activeConnectionCount == 0)
    }

    @Test("unix socket and IPv6 listeners, several hubs, and bad configurations are refused with a message")
    func addressesAndConfiguration() async throws {
        let path = "/tmp/greenio-server-test-\(getpid()).sock"
        var configuration = ServerConfiguration(addresses: [.unix(path: path), .tcp(host: "::1", port: 0)])
        configuration.hubs = 2
        let server = try Server(configuration: configuration, handler: echoLines)
        try server.start()
        #expect(server.localAddresses.first == .unix(path: path))
        let port = try #require(server.localAddresses.last?.port)
        try await onHub {
            let unix = try Socket(family: AF_UNIX)
            defer { unix.close() }
            try await unix.connect(to: .unix(path: path), deadline: .after(.seconds(5)))
            #expect(try await echoCheck(unix, "over unix\n", within: .seconds(5)) == nil)
            let v6 = try await Socket.connect(host: "::1", port: port, timeout: .timeout(.seconds(5)))
            defer { v6.close() }
            #expect(try await echoCheck(v6, "over ipv6\n", within: .seconds(5)) == nil)
        }
        try await stopTestServer(server)
        #expect(access(path, F_OK) != 0, "the socket file is removed at the stop")

        #expect(throws: ServerError.self) { try Server(configuration: ServerConfiguration(addresses: []), handler: echoLines) }
        var bad = ServerConfiguration(port: 0)
        bad.policy.maxConnections = 0
        #expect(throws: ServerError.self) { try Server(configuration: bad, handler: echoLines) }
        let (taken, takenPort) = try startTestServer()
        let clash = try Server(configuration: ServerConfiguration(port: takenPort), handler: echoLines)
        let error = #expect(throws: ServerError.self) { try clash.start() }
        #expect(error?.description.hasPrefix("cannot listen on 127.0.0.1:\(takenPort): ") == true)
        try await stopTestServer(taken)
        #expect(throws: ServerError.self) { try taken.start() }
    }
}
