import Glibc
import Testing
@testable import GreenIO

/// TLS over green sockets: eventlet and gevent scenarios (EVT-32 …
/// EVT-53) over real TCP loopback, client and server as green threads of one hub. Timing scenarios
/// (EVT-37, EVT-45, EVT-49) are in "TLS timeouts"; large transfers (EVT-38, EVT-39) in "TLS large
/// transfers".
@Suite("TLS eventlet scenarios", .timeLimit(.minutes(1)))
struct TLSEventletTests {
    @Test("EVT-32 duplex: the server receives the request and sends the response")
    func duplex() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsPair()
            defer { client.close(); server.close() }
            let serverSide = Hub.current!.spawn { () -> [UInt8] in
                let request = try await tlsRecv(server, 8192) ?? []
                try await tlsSendAll(server, bytes("response"))
                return request
            }
            try await tlsSendAll(client, bytes("request"))
            #expect(try await tlsRecvExactly(client, 8) == bytes("response"))
            #expect(try await serverSide.value == bytes("request"))
        }
    }

    @Test("EVT-33 verified client: the trusted self-signed certificate verifies for localhost and 127.0.0.1, and the client sees it")
    func verifiedClient() async throws {
        try await onHub(limit: .seconds(20)) {
            for name in ["localhost", "127.0.0.1"] {
                let (client, server) = try await tlsTryHandshake(client: try tlsClientContext(), server: try tlsServerContext(),
                                                                 serverHostname: name)
                let tls = try client.get()
                defer { tls.close(); (try? server.get())?.close() }
                let pem = try #require(try tls.peerCertificatePEM())
                #expect(pem.filter { !$0.isWhitespace } == tlsTestIdentity.certificateChainPEM.filter { !$0.isWhitespace })
                #expect(tls.serverHostname == name)
            }
        }
    }

    @Test("EVT-33 a wrong host name fails verification on the client (.certificateVerificationFailed) and the server's handshake fails too")
    func wrongHostname() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsTryHandshake(client: try tlsClientContext(), server: try tlsServerContext(),
                                                             serverHostname: "example.com")
            defer { (try? client.get())?.close(); (try? server.get())?.close() }
            let error = hubError(client) as? IOError
            #expect(error?.kind == .certificateVerificationFailed, "\(String(describing: error))")
            #expect(error?.message.contains("certificate verify failed") == true)
            #expect(hubError(server) is IOError, "the server learns of the failure")
        }
    }

    @Test("EVT-33 an untrusted certificate is refused by default (system trust store)")
    func untrustedRefused() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsTryHandshake(client: try TLSContext.client(), server: try tlsServerContext(),
                                                             serverHostname: "localhost")
            defer { (try? client.get())?.close(); (try? server.get())?.close() }
            #expect(hubIOErrorKind(client) == .certificateVerificationFailed)
            #expect(try TLSContext.client().verifiesPeer)
            #expect(try TLSContext.client().checksHostname)
        }
    }

    @Test("EVT-34 wrap first, connect later: the handshake happens in connect, then recv(3) gives hjk")
    func wrapThenConnect() async throws {
        try await onHub(limit: .seconds(20)) {
            let serverContext = try tlsServerContext()
            let (listener, port) = try await tlsStartServer { connection in
                try connection.setTimeout(seconds: 10)
                let tls = try await TLSSocket.wrap(connection, context: serverContext)
                defer { tls.close() }
                try await tlsSendAll(tls, bytes("hjk"))
                _ = try await tlsRecvToEnd(tls)
            }
            defer { listener.close() }
            let plain = try Socket(family: AF_INET)
            try plain.setTimeout(seconds: 10)
            let tls = try await TLSSocket.wrap(plain, context: try tlsClientContext(), serverHostname: "localhost")
            defer { tls.close() }
            #expect(tls.negotiatedVersion == nil)
            try await tls.connect(to: .ipv4(host: "127.0.0.1", port: port))
            #expect(tls.negotiatedVersion == "TLSv1.3")
            #expect(try await tlsRecvExactly(tls, 3) == bytes("hjk"))
        }
    }

    @Test("EVT-35 the handshake runs in the connection's green thread: a client that never sends its ClientHello does not stop a good one being served")
    func evilClientDoesNotBlockAccept() async throws {
        try await onHub(limit: .seconds(20)) {
            let serverContext = try tlsServerContext()
            let (listener, port) = try await tlsStartServer { connection in
                try connection.setTimeout(seconds: 10)
                let tls = try await TLSSocket.wrap(connection, context: serverContext)
                defer { tls.close() }
                try await tlsSendAll(tls, bytes("hello good\n"))
                _ = try await tlsRecvToEnd(tls)
            }
            defer { listener.close() }
            let evil = try await Socket.connect(host: "127.0.0.1", port: port, timeout: .timeout(.seconds(10)))
            defer { evil.close() }
            try await Hub.sleep(for: .milliseconds(50))  // accepted, its handshake waiting for a ClientHello
            let good = try await TLSSocket.connect(host: "127.0.0.1", port: port, context: try tlsClientContext(),
                                                   serverHostname: "localhost", timeout: .timeout(.seconds(5)))
            defer { good.close() }
            let reader = try good.makeReader()
            defer { reader.close() }
            #expect(try await reader.readLine() == bytes("hello good\n"))
            #expect(try await pendingBytes(evil) == nil, "the evil connection is still open and was sent nothing")
        }
    }

    @Test("EVT-36 plaintext already decrypted is returned without waiting: \"xy\" in one record, two 1-byte reads (raw receive, then SocketIO readInto)")
    func bufferedPlaintextWithoutWaiting() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsPair(clientTimeout: .timeout(.milliseconds(500)))
            defer { client.close(); server.close() }
            #expect(try await tlsSend(server, bytes("xy")) == .completed(2))
            #expect(try await tlsRecv(client, 1) == bytes("x"))
            #expect(client.pending == 1)
            #expect(try await tlsRecv(client, 1) == bytes("y"), "must not wait on the descriptor first")
            #expect(try await tlsSend(server, bytes("ab")) == .completed(2))
            let raw = try #require(try client.makefile("rb", buffering: 0).raw)
            defer { raw.close() }
            let one = scratch(1)
            defer { one.deallocate() }
            #expect(try await raw.readInto(one) == 1)
            #expect(one[0] == UInt8(ascii: "a"))
            #expect(try await raw.readInto(one) == 1)
            #expect(one[0] == UInt8(ascii: "b"))
        }
    }

    @Test("EVT-40 unwrap round trip: plain before, TLS during, both sides unwrap, plain after")
    func unwrapRoundTrip() async throws {
        try await onHub(limit: .seconds(20)) {
            let (plainClient, plainServer) = try await tcpPair()
            try plainClient.setTimeout(seconds: 10)
            try plainServer.setTimeout(seconds: 10)
            let serverContext = try tlsServerContext()
            let serverSide = Hub.current!.spawn { () -> [UInt8] in
                var log = try await receive(7, from: plainServer)
                let tls = try await TLSSocket.wrap(plainServer, context: serverContext)
                defer { tls.close() }
                log += try await tlsRecvExactly(tls, 7)
                try await tlsSendAll(tls, bytes("during\n"))
                let plain = try #require(try await tls.unwrap())
                defer { plain.close() }
                log += try await receive(6, from: plain)
                try await plain.sendAll(bytes("after\n"))
                return log
            }
            try await plainClient.sendAll(bytes("before\n"))
            let tls = try await TLSSocket.wrap(plainClient, context: try tlsClientContext(), serverHostname: "localhost")
            defer { tls.close() }
            try await tlsSendAll(tls, bytes("during\n"))
            #expect(try await tlsRecvExactly(tls, 7) == bytes("during\n"))
            let plain = try #require(try await tls.unwrap())
            defer { plain.close() }
            try await plain.sendAll(bytes("after\n"))
            #expect(try await receive(6, from: plain) == bytes("after\n"))
            #expect(try await serverSide.value == bytes("before\nduring\nafter\n"))
        }
    }

    @Test("EVT-41 clean close: the peer sends X, shuts down and closes; the next receives give X, then empty")
    func cleanClose() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsPair(serverSuppressRaggedEOFs: false)
            defer { client.close(); server.close() }
            try await tlsSendAll(client, bytes("X"))
            try client.shutdown(.write)
            client.close()
            #expect(try await tlsRecv(server, 10) == bytes("X"))
            #expect(try await tlsRecv(server, 10) == [])
            #expect(try await tlsRecv(server, 10) == [])
        }
    }

    @Test("EVT-42 ragged EOF, suppressed (the default for wrap, connect and startTLS): readLine gives the partial line, then empty")
    func raggedSuppressedDefault() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsPair()
            defer { client.close(); server.close() }
            #expect(client.suppressRaggedEOFs && server.suppressRaggedEOFs)
            try await tlsSendAll(client, bytes("partial"))
            tlsRaggedClose(client)
            let reader = try server.makeReader()
            defer { reader.close() }
            #expect(try await reader.readLine() == bytes("partial"))
            #expect(try await reader.readLine() == [])

            // The other construction paths default to suppressing too.
            let serverContext = try tlsServerContext()
            let startTLSDefault = HubTestBox<Bool?>(nil)
            let (listener, port) = try await tlsStartServer { connection in
                try connection.setTimeout(seconds: 10)
                let tls = try await connection.startTLS(context: serverContext)
                defer { tls.close() }
                startTLSDefault.value = tls.suppressRaggedEOFs
                _ = try await tlsRecvToEnd(tls)
            }
            defer { listener.close() }
            let connected = try await TLSSocket.connect(host: "127.0.0.1", port: port, context: try tlsClientContext(),
                                                        serverHostname: "localhost", timeout: .timeout(.seconds(5)))
            defer { connected.close() }
            #expect(connected.suppressRaggedEOFs)
            try await hubUntil { startTLSDefault.value != nil }
            #expect(startTLSDefault.value == true)
        }
    }

    @Test("EVT-43 ragged EOF, not suppressed: the partial data comes first, then .tlsEOF, raw and buffered")
    func raggedNotSuppressedPartialFirst() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsPair(serverSuppressRaggedEOFs: false)
            defer { client.close(); server.close() }
            try await tlsSendAll(client, bytes("partial"))
            tlsRaggedClose(client)
            #expect(try await tlsRecvExactly(server, 7) == bytes("partial"))
            await expectIOError(.tlsEOF, message: "EOF occurred in violation of protocol") { try await tlsRecv(server, 10) }

            let (client2, server2) = try await tlsPair(serverSuppressRaggedEOFs: false)
            defer { client2.close(); server2.close() }
            try await tlsSendAll(client2, bytes("partial"))
            tlsRaggedClose(client2)
            let reader = try server2.makeReader()
            defer { reader.close() }
            #expect(try await reader.readLine() == bytes("partial"), "the partial line comes first")
            await expectIOError(.tlsEOF) { try await reader.readLine() }
            await expectIOError(.tlsEOF) { try await reader.readLine() }
        }
    }

    @Test("EVT-44 writing after the peer closed (close_notify, FIN, RST) fails with an error, never hangs", arguments: ["close_notify", "FIN", "RST"])
    func writeAfterPeerClose(kind: String) async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsPair(clientTimeout: .timeout(.seconds(5)))
            defer { client.close(); server.close() }
            switch kind {
            case "close_notify": server.close()
            case "FIN": tlsRaggedClose(server)
            default: try tlsResetClose(server)
            }
            try await Hub.sleep(for: .milliseconds(20))
            let start = ContinuousClock.now
            let chunk = pattern(from: 0, count: 1024)
            let error = await tlsIOError {
                for _ in 0..<1_000 {
                    try await tlsSendAll(client, chunk)
                    try await Hub.sleep(for: .milliseconds(1))
                }
            }
            #expect(error != nil, "writes to a closed peer must fail")
            #expect(error?.kind != .timedOut, "\(String(describing: error))")
            #expect(secondsSince(start) < 4)
        }
    }

    @Test("EVT-46 seed regression (#308): TLS listener, accept, wrap in the connection's green thread, a line 0.3 s later: makefile(\"rb\").readLine(limit: 1024) returns it; the accepted socket is in blocking mode")
    func seedRegressionLateLine() async throws {
        try await onHub(limit: .seconds(20)) {
            let listener = try await Socket.listen(host: "127.0.0.1", port: 0)
            defer { listener.close() }
            let port = try listener.localAddress().port ?? 0
            let serverContext = try tlsServerContext()
            let serverSide = Hub.current!.spawn { () -> ([UInt8]?, Bool, TimeoutMode) in
                let (connection, _) = try await listener.accept()
                let blocking = connection.isBlocking
                let line = try await Hub.current!.spawn { () -> ([UInt8]?, TimeoutMode) in
                    let tls = try await TLSSocket.wrap(connection, context: serverContext)
                    defer { tls.close() }
                    let reader = try #require(try tls.makefile("rb").reader)
                    defer { reader.close() }
                    return (try await reader.readLine(limit: 1024), tls.timeout)
                }.value
                return (line.0, blocking, line.1)
            }
            let client = try await TLSSocket.connect(host: "127.0.0.1", port: port, context: try tlsClientContext(),
                                                     serverHostname: "localhost", timeout: .timeout(.seconds(5)))
            defer { client.close() }
            try await Hub.sleep(for: .milliseconds(300))
            try await tlsSendAll(client, bytes("GET /seed HTTP/1.0\r\n"))
            let (line, blocking, mode) = try await serverSide.value
            #expect(line == bytes("GET /seed HTTP/1.0\r\n"))
            #expect(blocking, "an accepted socket is never in non-blocking mode")
            #expect(mode != .nonBlocking)
        }
    }

    @Test("EVT-47 non-blocking TLS (setTimeout(.nonBlocking) and setTimeout(seconds: 0)) with no data: would-block in the read direction on every call, no latch")
    func nonBlockingEveryCall() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsPair()
            defer { client.close(); server.close() }
            let raw = try #require(try client.makefile("rb", buffering: 0).raw)
            defer { raw.close() }
            let reader = try client.makeReader()
            defer { reader.close() }
            let buffer = scratch(10)
            defer { buffer.deallocate() }
            for setting in [{ try client.setTimeout(.nonBlocking) }, { try client.setTimeout(seconds: 0) }] {
                try setting()
                #expect(client.timeout == .nonBlocking)
                for _ in 0..<3 {
                    #expect(try await client.receive(into: buffer, deadline: nil) == .wouldBlock(.read))
                    #expect(try await raw.readInto(buffer) == nil)
                    #expect(try await reader.readLine() == nil)
                }
                #expect(raw.timeoutOccurred == false)
            }
            try await tlsSendAll(server, bytes("now\n"))
            #expect(try await tlsPoll { try await reader.readLine() } == bytes("now\n"))
        }
    }

    @Test("EVT-48 handshake errors (a client that closes at once, one that sends GET / HTTP/1.0 in clear) are per-connection; the accept loop keeps serving")
    func handshakeErrorsDoNotKillServer() async throws {
        try await onHub(limit: .seconds(20)) {
            let serverContext = try tlsServerContext()
            let outcomes = HubTestBox<[IOError?]>([])
            let (listener, port) = try await tlsStartServer { connection in
                try connection.setTimeout(seconds: 5)
                do {
                    let tls = try await TLSSocket.wrap(connection, context: serverContext)
                    defer { tls.close() }
                    outcomes.value.append(nil)
                    try await tlsSendAll(tls, bytes("hello\n"))
                    _ = try await tlsRecvToEnd(tls)
                } catch let error as IOError {
                    outcomes.value.append(error)
                }
            }
            defer { listener.close() }
            let quitter = try await Socket.connect(host: "127.0.0.1", port: port, timeout: .timeout(.seconds(5)))
            quitter.close()
            try await hubUntil { outcomes.value.count == 1 }
            let cleartext = try await Socket.connect(host: "127.0.0.1", port: port, timeout: .timeout(.seconds(5)))
            try await cleartext.sendAll(bytes("GET / HTTP/1.0\r\n\r\n"))
            _ = try? await readToEnd(cleartext)
            cleartext.close()
            try await hubUntil { outcomes.value.count == 2 }
            let good = try await TLSSocket.connect(host: "127.0.0.1", port: port, context: try tlsClientContext(),
                                                   serverHostname: "localhost", timeout: .timeout(.seconds(5)))
            defer { good.close() }
            #expect(try await tlsRecvExactly(good, 6) == bytes("hello\n"))
            try await hubUntil { outcomes.value.count == 3 }
            let first = outcomes.value[0]
            #expect(first?.kind == .tlsEOF || first?.errno == .connectionReset, "\(String(describing: first))")
            let second = outcomes.value[1]
            #expect(second?.kind == .tls, "\(String(describing: second))")
            // OpenSSL recognises the HTTP request ("http request"); others say "wrong version number".
            let reason = second?.message.lowercased() ?? ""
            #expect(reason.contains("http request") || reason.contains("wrong version number"), "\(reason)")
            #expect(outcomes.value[2] == nil)
        }
    }

    @Test("EVT-50 a reader and a writer green thread on a freshly accepted TLS socket both complete while they drive the handshake",
          arguments: [TLSVersion.tls1_2, .tls1_3])
    func readerAndWriterDuringHandshake(version: TLSVersion) async throws {
        try await onHub(limit: .seconds(20)) {
            let (plainClient, plainServer) = try await tcpPair()
            try plainClient.setTimeout(seconds: 10)
            try plainServer.setTimeout(seconds: 10)
            let server = try await TLSSocket.wrap(plainServer, context: try tlsServerContext(maximumVersion: version),
                                                  handshake: false)
            defer { server.close() }
            let reader = Hub.current!.spawn { () -> [UInt8] in try await tlsRecvExactly(server, 4) }
            let writer = Hub.current!.spawn { try await tlsSendAll(server, bytes("pong")) }
            try await Hub.sleep(for: .milliseconds(20))  // both are parked in the handshake now
            let client = try await TLSSocket.wrap(plainClient, context: try tlsClientContext(), serverHostname: "localhost",
                                                  suppressRaggedEOFs: false)
            defer { client.close() }
            try await tlsSendAll(client, bytes("ping"))
            #expect(try await tlsRecvExactly(client, 4) == bytes("pong"))
            #expect(try await reader.value == bytes("ping"))
            try await writer.value
            #expect(client.negotiatedVersion == version.description)
            #expect(server.negotiatedVersion == version.description)
            // The handshake finished inside a read or write: close still says close_notify.
            server.close()
            #expect(try await tlsRecv(client, 10) == [])
        }
    }

    @Test("EVT-51 empty sends: send of nothing gives 0 (blocking and non-blocking), empty buffered writes and sendAll succeed, recv(0) returns at once; the stream still works")
    func emptySends() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsPair(clientTimeout: .timeout(.seconds(2)))
            defer { client.close(); server.close() }
            #expect(try await tlsSend(client, []) == .completed(0))
            try await tlsSendAll(client, [])
            let start = ContinuousClock.now
            #expect(try await tlsRecv(client, 0) == [])
            #expect(secondsSince(start) < 1)
            let file = try client.makeWriter()
            #expect(try await file.write([]) == 0)
            try await file.flush()
            let raw = try #require(try client.makefile("wb", buffering: 0).raw)
            defer { raw.close() }
            #expect(try await raw.write([]) == 0)
            try client.setTimeout(.nonBlocking)
            #expect(try await tlsSend(client, []) == .completed(0))
            try client.setTimeout(seconds: 5)
            #expect(try await file.write(bytes("ok")) == 2)
            try await file.close()
            #expect(try await tlsRecvExactly(server, 2) == bytes("ok"))
        }
    }

    @Test("EVT-52 the timeout is inherited when wrapping: 5 s on the plain socket is 5 s on the TLS socket (wrap and connect)")
    func timeoutInherited() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsPair { plainClient, _ in try plainClient.setTimeout(seconds: 5) }
            defer { client.close(); server.close() }
            let serverMode = HubTestBox<TimeoutMode?>(nil)
            let (listener, port) = try await tlsStartServer { connection in
                try connection.setTimeout(seconds: 5)
                let tls = try await TLSSocket.wrap(connection, context: try tlsServerContext())
                defer { tls.close() }
                serverMode.value = tls.timeout
                _ = try await tlsRecvToEnd(tls)
            }
            defer { listener.close() }
            let connected = try await TLSSocket.connect(host: "127.0.0.1", port: port, context: try tlsClientContext(),
                                                        serverHostname: "localhost", timeout: .timeout(.seconds(5)))
            defer { connected.close() }
            #expect(connected.timeout == .timeout(.seconds(5)))
            #expect(connected.timeout.seconds == 5)
            try await hubUntil { serverMode.value != nil }
            #expect(serverMode.value == .timeout(.seconds(5)))
        }
    }

    @Test("EVT-53 a non-blocking sendAll that cannot progress would-blocks (raw sends and the buffered writer), saying how much went")
    func nonBlockingSendAllWouldBlock() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsPair(clientTimeout: .nonBlocking, configure: tlsSmallBuffers)
            defer { client.close(); server.close() }
            let data = pattern(from: 0, count: 8_000_000)
            let error = await expectIOError(.wouldBlock) { try await tlsSendAll(client, data) }
            let sent = try #require(error?.bytesTransferred)
            #expect(sent > 0 && sent < data.count)
            let writer = try client.makeWriter()
            let buffered = await expectIOError(.wouldBlock) { try await writer.write(Array(data[sent...])) }
            #expect((buffered?.bytesTransferred ?? -1) < data.count - sent)
        }
    }
}
