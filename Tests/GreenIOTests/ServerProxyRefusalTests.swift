import Glibc
import GreenIO
import GreenIOServer
import Logging
import MetricsTestKit
import Testing

/// Connections a PROXY listener refuses: closed without a reply byte, never handed to the handler,
/// logged without the client's bytes and counted by kind.
@Suite("Server PROXY refusals", .timeLimit(.minutes(1)))
struct ServerProxyRefusalTests {
    @Test("missing, malformed, too long and truncated headers: closed without a reply, counted, logged")
    func badHeaders() async throws {
        let store = LogStore()
        let metrics = TestMetrics()
        let seen = SeenConnections()
        let (server, port) = try startProxyServer(seen: seen) {
            $0.logger = collectingLogger(store)
            $0.metricsFactory = metrics
        }
        let cases: [(kind: ProxyHeaderError.Kind, bytes: [UInt8], endsWrite: Bool)] = [
            (.missing, bytes("GET /secret-path HTTP/1.1\r\nHost: x\r\n\r\n"), false),
            (.missing, [0x16, 0x03, 0x01, 0x00, 0xA5, 0x01, 0x00], false),
            (.malformed, proxyV1("TCP4 203.0.113.7 198.51.100.1 040000 443") + bytes("secret\n"), false),
            (.malformed, proxyV2(command: 0x21, family: 0x12, body: [UInt8](repeating: 7, count: 12)), false),
            (.tooLong, bytes("PROXY UNKNOWN " + String(repeating: "s", count: 200)), false),
            (.tooLong, proxyV2(length: 5000) + [UInt8](repeating: 0, count: 100), false),
            (.truncated, Array(proxyV1Client.prefix(20)), true),
            (.truncated, Array(proxyV2Client.prefix(20)), true),
            (.truncated, [], true),
        ]
        let peers = try await onHub {
            var peers: [SocketAddress] = []
            for (index, test) in cases.enumerated() {
                let socket = try await connectToServer(port: port)
                defer { socket.close() }
                try await socket.sendAll(test.bytes)
                if test.endsWrite { try socket.shutdown(.write) }
                #expect(try await receiveUntilClosed(socket).isEmpty, "case \(index)")
                peers.append(try socket.localAddress())
            }
            try await waitUntil("every refusal counted") {
                counterTotal(metrics, "greenio_connections_closed_total", [("reason", "proxy_header")]) == Int64(cases.count)
            }
            return peers
        }
        try await stopTestServer(server)
        #expect(seen.all.isEmpty, "a refused connection reached the handler")
        for kind in ProxyHeaderError.Kind.allCases {
            let expected = cases.filter { $0.kind == kind }.count
            #expect(proxyFailures(metrics, kind) == Int64(expected), "\(kind)")
        }
        #expect(counterTotal(metrics, "greenio_connections_accepted_total") == Int64(cases.count))
        let events = store.events
        #expect(!events.contains { $0.message.hasPrefix("open ") }, "a refused connection has no open line")
        for (peer, test) in zip(peers, cases) {
            let close = events.first { $0.message.hasPrefix("close \(peer) (proxy header \(test.kind.rawValue): ") }
            #expect(close?.level == .info, "\(peer) \(test.kind): \(events.map(\.message))")
            #expect(close?.metadata["peer"] == "\(peer)")
        }
        #expect(!events.contains { $0.allText.contains("secret") }, "the client's bytes are never logged")
    }

    @Test("a peer outside the trusted sources is refused before its header is read, even a valid one")
    func untrustedPeer() async throws {
        let store = LogStore()
        let metrics = TestMetrics()
        let seen = SeenConnections()
        let (server, port) = try startProxyServer(trusted: ["10.0.0.0/8", "::1"], seen: seen) {
            $0.logger = collectingLogger(store)
            $0.metricsFactory = metrics
        }
        let peer = try await onHub {
            let socket = try await connectToServer(port: port)
            defer { socket.close() }
            try await socket.sendAll(proxyV1Client + bytes("hello\n"))
            #expect(try await receiveUntilClosed(socket).isEmpty)
            let peer = try socket.localAddress()
            // Also with nothing sent at all: refused at the accept, not after a wait.
            let silent = try await connectToServer(port: port)
            defer { silent.close() }
            #expect(try await receiveUntilClosed(silent, within: .seconds(3)).isEmpty)
            return peer
        }
        try await stopTestServer(server)
        #expect(seen.all.isEmpty)
        #expect(proxyFailures(metrics, .untrusted) == 2)
        #expect(counterTotal(metrics, "greenio_connections_closed_total", [("reason", "proxy_header")]) == 2)
        let close = try #require(store.events.first { $0.message.hasPrefix("close \(peer) ") })
        #expect(close.message == "close \(peer) (proxy header untrusted: peer is not a trusted source)")
        #expect(close.level == .warning)
    }
}

/// The handshake deadline bounds the header. These tests measure time: one at a time, with
/// generous bounds.
@Suite("Server PROXY deadlines", .serialized, .timeLimit(.minutes(1)))
struct ServerProxyDeadlineTests {
    @Test("a header that stops short, or dribbles, is closed at the handshake deadline without a reply")
    func slowHeader() async throws {
        let metrics = TestMetrics()
        let seen = SeenConnections()
        let (server, port) = try startProxyServer(seen: seen) {
            $0.metricsFactory = metrics
            $0.policy.handshakeTimeout = .milliseconds(500)
        }
        try await onHub {
            let stalled = try await connectToServer(port: port)
            defer { stalled.close() }
            var start = Deadline.now
            try await stalled.sendAll(Array(proxyV1Client.prefix(15)))
            #expect(try await receiveUntilClosed(stalled).isEmpty)
            var elapsed = seconds(since: start)
            #expect(elapsed > 0.4 && elapsed < 4, "closed after \(elapsed) s")

            // One byte every 100 ms: the whole header would take 4 s; the deadline is for all of it.
            let dribbler = try await connectToServer(port: port)
            defer { dribbler.close() }
            guard let hub = Hub.current else { return }
            start = Deadline.now
            let sender = hub.spawn { try? await dribble(proxyV1Client, to: dribbler, pause: .milliseconds(100)) }
            defer { sender.cancel() }
            #expect(try await receiveUntilClosed(dribbler).isEmpty)
            elapsed = seconds(since: start)
            #expect(elapsed > 0.4 && elapsed < 3, "closed after \(elapsed) s")
            try await waitUntil("both counted") { proxyFailures(metrics, .timedOut) == 2 }
        }
        try await stopTestServer(server)
        #expect(seen.all.isEmpty)
    }

    @Test("the first line's deadline caps the header's when it is earlier")
    func lineTimeoutCaps() async throws {
        let metrics = TestMetrics()
        let (server, port) = try startProxyServer(seen: SeenConnections()) {
            $0.metricsFactory = metrics
            $0.policy.handshakeTimeout = .seconds(30)
            $0.policy.lineTimeout = .milliseconds(500)
        }
        try await onHub {
            let silent = try await connectToServer(port: port)
            defer { silent.close() }
            let start = Deadline.now
            #expect(try await receiveUntilClosed(silent).isEmpty)
            let elapsed = seconds(since: start)
            #expect(elapsed > 0.4 && elapsed < 4, "closed after \(elapsed) s")
            try await waitUntil("counted") { proxyFailures(metrics, .timedOut) == 1 }
        }
        try await stopTestServer(server)
    }

    @Test("with TLS, the header and the handshake share one deadline: a header without a ClientHello times out")
    func tlsAfterTheHeaderTimesOut() async throws {
        let store = LogStore()
        let metrics = TestMetrics()
        let context = try tlsServerContext()
        let (server, port) = try startProxyServer(seen: SeenConnections()) {
            $0.tls = context
            $0.logger = collectingLogger(store)
            $0.metricsFactory = metrics
            $0.policy.handshakeTimeout = .milliseconds(500)
        }
        try await onHub {
            let socket = try await connectToServer(port: port)
            defer { socket.close() }
            let start = Deadline.now
            try await socket.sendAll(proxyV2Client)
            #expect(try await receiveUntilClosed(socket).isEmpty)
            let elapsed = seconds(since: start)
            #expect(elapsed > 0.4 && elapsed < 4, "closed after \(elapsed) s")
            try await waitUntil("the close line") { store.events.contains { $0.message.hasPrefix("close ") } }
        }
        try await stopTestServer(server)
        let messages = store.events.map(\.message)
        #expect(messages.contains { $0.hasPrefix("open 203.0.113.7:40000 (via 127.0.0.1:") }, "\(messages)")
        #expect(messages.contains("close 203.0.113.7:40000 (tls handshake timed out)"), "\(messages)")
        #expect(proxyFailures(metrics, .timedOut) == 0, "the header itself was fine")
        #expect(counterTotal(metrics, "greenio_connections_closed_total", [("reason", "handshake")]) == 1)
    }
}
