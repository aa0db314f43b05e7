import Glibc
import GreenIO
import GreenIOServer
import Logging
import MetricsTestKit
import Testing

/// A `Server` whose listeners require PROXY protocol headers, over real loopback sockets: what
/// the handler sees of a proxied connection, and the bytes behind the header.
@Suite("Server PROXY protocol", .timeLimit(.minutes(1)))
struct ServerProxyTests {
    @Test("v1 and v2: the handler's peer is the header's client, its balancer the socket's peer; the open line names both")
    func handlerSeesTheClient() async throws {
        let store = LogStore()
        let seen = SeenConnections()
        let (server, port) = try startProxyServer(seen: seen) { $0.logger = collectingLogger(store) }
        let balancers = try await onHub {
            var balancers: [SocketAddress] = []
            for header in [proxyV1Client, proxyV2Client] {
                let socket = try await connectToServer(port: port)
                defer { socket.close() }
                // The first line goes in the same write as the header: it is the handler's first input.
                try await socket.sendAll(header + bytes("first\n"))
                #expect(text(try await receive(socket, count: 6)) == "first\n")
                #expect(try await echoCheck(socket, "second\n", within: .seconds(5)) == nil)
                balancers.append(try socket.localAddress())
                socket.close()
                try await waitUntil("the close line") {
                    store.events.filter { $0.message.hasPrefix("close ") }.count == balancers.count
                }
            }
            return balancers
        }
        try await stopTestServer(server)
        let connections = seen.all
        try #require(connections.count == 2)
        for (index, connection) in connections.enumerated() {
            #expect(connection.peer == proxiedClient)
            #expect(connection.balancer == balancers[index])
            #expect(connection.header?.version == (index == 0 ? .v1 : .v2))
            #expect(connection.header?.destination == .ipv4(host: "198.51.100.1", port: 443))
        }
        let opens = store.events.filter { $0.message.hasPrefix("open ") }
        #expect(opens.map(\.message) == balancers.map { "open 203.0.113.7:40000 (via \($0))" })
        #expect(opens.first?.metadata["peer"] == "203.0.113.7:40000")
        #expect(opens.first?.metadata["via"] == "\(balancers[0])")
        let closes = store.events.filter { $0.message.hasPrefix("close ") }.map(\.message)
        #expect(closes == ["close 203.0.113.7:40000 (end of stream)", "close 203.0.113.7:40000 (end of stream)"])
    }

    @Test("LOCAL, v1 UNKNOWN and AF_UNSPEC name no client: the socket's peer stands, and the open line says why")
    func headersWithoutClient() async throws {
        let store = LogStore()
        let seen = SeenConnections()
        let (server, port) = try startProxyServer(seen: seen) { $0.logger = collectingLogger(store) }
        let headers = [proxyV2(command: 0x20, family: 0x00), proxyV1("UNKNOWN"), proxyV2(family: 0x00)]
        let sockets = try await onHub {
            var addresses: [SocketAddress] = []
            for header in headers {
                let socket = try await connectToServer(port: port)
                defer { socket.close() }
                try await socket.sendAll(header + bytes("health\n"))
                #expect(text(try await receive(socket, count: 7)) == "health\n")
                addresses.append(try socket.localAddress())
            }
            return addresses
        }
        try await stopTestServer(server)
        let connections = seen.all
        try #require(connections.count == 3)
        #expect(connections.map(\.peer) == sockets)
        #expect(connections.map(\.balancer) == sockets)
        #expect(connections.map { $0.header?.command } == [.local, .proxy, .proxy])
        let opens = store.events.filter { $0.message.hasPrefix("open ") }.map(\.message)
        #expect(opens == ["open \(sockets[0]) (proxy LOCAL: the balancer's own connection)",
                          "open \(sockets[1]) (proxy header names no client)",
                          "open \(sockets[2]) (proxy header names no client)"])
    }

    @Test("a header sent byte by byte, with pauses, still works; the data behind it is intact")
    func headerInPieces() async throws {
        let seen = SeenConnections()
        let (server, port) = try startProxyServer(seen: seen)
        try await onHub {
            for header in [proxyV1Client, proxyV2Client] {
                let socket = try await connectToServer(port: port)
                defer { socket.close() }
                try await dribble(header, to: socket, pause: .milliseconds(3))
                try await Hub.sleep(for: .milliseconds(20))
                try await socket.sendAll(bytes("after the pieces\n"))
                #expect(text(try await receive(socket, count: 17)) == "after the pieces\n")
            }
        }
        try await stopTestServer(server)
        #expect(seen.all.map(\.peer) == [proxiedClient, proxiedClient])
    }

    @Test("TLS behind the header: the ClientHello in the same segment as a v2 header, or arriving after it",
          arguments: [nil, Duration.milliseconds(100)])
    func tlsBehindTheHeader(pause: Duration?) async throws {
        let seen = SeenConnections()
        let context = try tlsServerContext()
        let (server, port) = try startProxyServer(seen: seen) { $0.tls = context }
        try await onHub {
            let listener = try await Socket.listen(host: "127.0.0.1", port: 0)
            defer { listener.close() }
            let balancerPort = try #require(try listener.localAddress().port)
            guard let hub = Hub.current else { return }
            let balancer = hub.spawn {
                try await balanceOneConnection(listener, serverPort: port, header: proxyV2Client, pause: pause)
            }
            let client = try await TLSSocket.connect(host: "127.0.0.1", port: balancerPort, context: tlsClientContext(),
                                                     timeout: .timeout(.seconds(5)))
            defer { client.close() }
            #expect(try await echoCheck(client, "over tls\n", within: .seconds(5)) == nil)
            #expect(try await echoCheck(client, "and again\n", within: .seconds(5)) == nil)
            client.close()
            try await balancer.value
        }
        try await stopTestServer(server)
        let connection = try #require(seen.all.first)
        #expect(connection.peer == proxiedClient)
        #expect(connection.balancer?.host == "127.0.0.1")
        #expect(connection.header?.version == .v2)
    }

    @Test("per listener: only the listeners named require the header; Unix-domain peers are always trusted")
    func perListener() async throws {
        let path = temporaryUnixPath()
        let tcp = ListenAddress.tcp(host: "127.0.0.1", port: 0)
        for proxied in [tcp, ListenAddress.unix(path: path)] {
            let seen = SeenConnections()
            var configuration = ServerConfiguration(addresses: [tcp, .unix(path: path)])
            // 10.0.0.0/8 excludes the loopback peer: only the Unix listener's peers may send headers.
            let trusted = proxied == tcp ? "127.0.0.0/8" : "10.0.0.0/8"
            configuration.proxyProtocol = ProxyProtocolConfiguration(trustedSources: [try IPNetwork(trusted)],
                                                                     addresses: [proxied])
            let server = try Server(configuration: configuration, handler: seen.echoHandler)
            try server.start()
            let port = try #require(server.localAddresses.first?.port)
            try await onHub {
                let overTCP = try await connectToServer(port: port)
                defer { overTCP.close() }
                let overUnix = try Socket(family: AF_UNIX)
                defer { overUnix.close() }
                try await overUnix.connect(to: .unix(path: path), deadline: .after(.seconds(5)))
                let (withHeader, without) = proxied == tcp ? (overTCP, overUnix) : (overUnix, overTCP)
                try await withHeader.sendAll(proxyV1Client + bytes("proxied\n"))
                #expect(text(try await receive(withHeader, count: 8)) == "proxied\n")
                #expect(try await echoCheck(without, "plain\n", within: .seconds(5)) == nil)
                // A plain client on the listener that requires the header is refused.
                let bare: Socket
                if proxied == tcp {
                    bare = try await connectToServer(port: port)
                } else {
                    bare = try Socket(family: AF_UNIX)
                    try await bare.connect(to: .unix(path: path), deadline: .after(.seconds(5)))
                }
                defer { bare.close() }
                try await bare.sendAll(bytes("plain\n"))
                #expect(try await receiveUntilClosed(bare).isEmpty)
            }
            try await stopTestServer(server)
            let connections = seen.all
            try #require(connections.count == 2)
            let header = connections.first { $0.header != nil }
            #expect(header?.peer == proxiedClient)
            #expect(header?.balancer?.family == (proxied == tcp ? AF_INET : AF_UNIX))
            #expect(connections.contains { $0.header == nil && $0.balancer == nil })
        }
    }

    @Test("configuration: an empty trusted list, an address not the server's, or a bad limit is refused")
    func configuration() throws {
        func refusal(_ change: (inout ProxyProtocolConfiguration) -> Void) -> String? {
            var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
            var proxy = ProxyProtocolConfiguration()
            change(&proxy)
            configuration.proxyProtocol = proxy
            let error = #expect(throws: ServerError.self) { try Server(configuration: configuration, handler: echoLines) }
            return error?.description
        }
        #expect(refusal { $0.trustedSources = [] }?.contains("trustedSources is empty") == true)
        #expect(refusal { $0.addresses = [.tcp(host: "127.0.0.1", port: 9)] }?
            .contains("127.0.0.1:9, which is not one of the server's addresses") == true)
        #expect(refusal { $0.maxV2Length = 65536 }?.contains("maxV2Length") == true)
        #expect(refusal { $0.maxV2Length = -1 }?.contains("maxV2Length") == true)
        var fine = ServerConfiguration(host: "127.0.0.1", port: 0)
        fine.proxyProtocol = ProxyProtocolConfiguration(addresses: [.tcp(host: "127.0.0.1", port: 0)])
        _ = try Server(configuration: fine, handler: echoLines)
    }

    @Test("the start logs the trusted sources, or a warning that any peer may send headers")
    func startLogsTrust() async throws {
        for trusted in [["127.0.0.0/8", "::1"], nil] {
            let store = LogStore()
            let (server, _) = try startProxyServer(trusted: trusted, seen: SeenConnections()) { $0.logger = collectingLogger(store) }
            try await stopTestServer(server)
            let line = try #require(store.events.first { $0.message.contains("PROXY protocol") })
            if trusted != nil {
                #expect(line.level == .notice)
                #expect(line.message == "PROXY protocol headers required, trusted from 127.0.0.0/8, ::1/128")
            } else {
                #expect(line.level == .warning)
                #expect(line.message.hasPrefix("WARNING: PROXY protocol headers are believed from ANY peer"))
            }
        }
    }
}
