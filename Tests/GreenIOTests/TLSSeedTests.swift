import COpenSSL
import Glibc
import Testing
@testable import GreenIO

/// The seed (eventlet #308: `SSLWantReadError` out of `makefile('rb').readline()` on a TLS server) as
/// regression tests, plus the peer going away under a parked reader or a writer. Durations are
/// bounded, so the suite runs serially.
@Suite("TLS seed regressions", .serialized, .timeLimit(.minutes(1)))
struct TLSSeedTests {
    @Test("SEED a: a TLS server's makefile(\"rb\").readLine(limit: 1024) returns a line that arrives 300 ms late in 1-byte records with pauses between them, never an error")
    func lineInOneByteRecords() async throws {
        try await onHub(limit: .seconds(20)) {
            let listener = try await Socket.listen(host: "127.0.0.1", port: 0)
            defer { listener.close() }
            let port = try listener.localAddress().port ?? 0
            let serverContext = try tlsServerContext()
            let serverSide = Hub.current!.spawn { () -> [UInt8]? in
                let (connection, _) = try await listener.accept()
                return try await Hub.current!.spawn { () -> [UInt8]? in
                    let tls = try await TLSSocket.wrap(connection, context: serverContext)
                    defer { tls.close() }
                    let reader = try #require(try tls.makefile("rb").reader)
                    defer { reader.close() }
                    return try await reader.readLine(limit: 1024)
                }.value
            }
            let client = try await TLSSocket.connect(host: "127.0.0.1", port: port, context: try tlsClientContext(),
                                                     serverHostname: "localhost", timeout: .timeout(.seconds(5)))
            defer { client.close() }
            try await Hub.sleep(for: .milliseconds(300))
            let line = bytes("GET /seed HTTP/1.1, one byte per TLS record\r\n")
            for byte in line {
                #expect(try await tlsSend(client, [byte]) == .completed(1))
                try await Hub.sleep(for: .milliseconds(3))
            }
            #expect(try await serverSide.value == line)
        }
    }

    @Test("SEED b: a non-blocking TLS server: raw readInto is nil; buffered readLine is nil while the line is partial (the part kept), then the whole line")
    func nonBlockingServerPartialLine() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsPair(serverTimeout: .nonBlocking)
            defer { client.close(); server.close() }
            let raw = try #require(try server.makefile("rb", buffering: 0).raw)
            defer { raw.close() }
            let buffer = scratch(16)
            defer { buffer.deallocate() }
            #expect(try await raw.readInto(buffer) == nil)
            let reader = try #require(try server.makefile("rb").reader)
            defer { reader.close() }
            #expect(try await reader.readLine(limit: 1024) == nil)
            for byte in bytes("abc") {
                _ = try await tlsSend(client, [byte])
                try await Hub.sleep(for: .milliseconds(2))
            }
            // Short sleeps: every call says "would block" until the three bytes are buffered.
            try await tlsPoll { () async throws -> Bool? in
                #expect(try await reader.readLine(limit: 1024) == nil)
                return reader.bufferedByteCount == 3 ? true : nil
            }
            #expect(try await reader.readLine(limit: 1024) == nil)
            for byte in bytes("def\n") {
                _ = try await tlsSend(client, [byte])
                try await Hub.sleep(for: .milliseconds(2))
            }
            // Hub waits on the descriptor: a nil readLine has drained OpenSSL, so waiting is safe.
            var line: [UInt8]?
            while line == nil {
                line = try await reader.readLine(limit: 1024)
                if line == nil {
                    try await Hub.current!.wait(for: .read, on: server.fileDescriptor, deadline: .after(.seconds(5)))
                }
            }
            #expect(line == bytes("abcdef\n"))
            #expect(raw.timeoutOccurred == false)
        }
    }

    @Test("SEED c: the peer closes while the server is parked in readLine: the end of the stream or the matching error within a second, never a hang",
          arguments: ["close_notify", "FIN", "FIN, not suppressed", "RST"])
    func peerClosesUnderParkedReader(kind: String) async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsPair(serverTimeout: .blocking,
                                                     serverSuppressRaggedEOFs: kind != "FIN, not suppressed")
            defer { client.close(); server.close() }
            let reader = try server.makeReader()
            defer { reader.close() }
            if kind != "RST" { try await tlsSendAll(client, bytes("part")) }
            let parked = Hub.current!.spawn { () -> (Result<[UInt8]?, any Error>, UInt64) in
                let outcome = await hubOutcome { try await reader.readLine(limit: 1024) }
                return (outcome, Deadline.now.nanoseconds)
            }
            try await hubUntil { parkedWaiters >= 1 }
            try await Hub.sleep(for: .milliseconds(20))
            let closed = Deadline.now.nanoseconds
            switch kind {
            case "close_notify":
                tlsDiscardIncoming(client)  // unread session tickets would turn the close into a reset
                client.close()
            case "RST": try tlsResetClose(client)
            default: tlsRaggedClose(client)
            }
            let (outcome, ended) = try await parked.value
            let delay = Double(ended - closed) / 1e9
            #expect(delay < 1, "\(kind): the parked reader ended \(delay) s after the close")
            switch kind {
            case "close_notify", "FIN":
                #expect(try outcome.get() == bytes("part"))
                #expect(try await reader.readLine() == [])
            case "FIN, not suppressed":
                #expect(try outcome.get() == bytes("part"), "the partial line comes first")
                await expectIOError(.tlsEOF) { try await reader.readLine() }
            default:
                let error = hubError(outcome) as? IOError
                #expect(error?.errno == .connectionReset, "\(outcome)")
            }
        }
    }

    @Test("SEED d: writing to a peer that is gone (close_notify, FIN, RST) fails with an error through the buffered writer, never hangs (blocking mode)",
          arguments: ["close_notify", "FIN", "RST"])
    func writeToGonePeer(kind: String) async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsPair(serverTimeout: .blocking)
            defer { client.close(); server.close() }
            switch kind {
            case "close_notify": client.close()
            case "RST": try tlsResetClose(client)
            default: tlsRaggedClose(client)
            }
            let writer = try #require(try server.makefile("wb").writer)
            let chunk = pattern(from: 0, count: 65_536)
            let start = ContinuousClock.now
            let error = await tlsIOError {
                for _ in 0..<1_000 {
                    _ = try await writer.write(chunk)
                    try await writer.flush()
                }
            }
            try? await writer.close()
            #expect(error != nil, "\(kind): writes to a vanished peer must fail")
            #expect(error?.kind == .system || error?.kind == .tls || error?.kind == .tlsEOF, "\(String(describing: error))")
            #expect(secondsSince(start) < 5)
        }
    }
}

/// STARTTLS: the upgrade is refused when cleartext bytes were injected after the command.
@Suite("TLS STARTTLS", .timeLimit(.minutes(1)))
struct TLSStartTLSTests {
    @Test("STARTTLS is refused when the reader holds cleartext that arrived with the command (\"STARTTLS\\r\\nINJECTED\\r\\n\" in one packet); the plain connection stays usable")
    func refusedWithInjectedBytes() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tcpPair()
            defer { client.close(); server.close() }
            try server.setTimeout(seconds: 10)
            try await client.sendAll(bytes("STARTTLS\r\nINJECTED\r\n"))
            let reader = try server.makeReader()
            defer { reader.close() }
            #expect(try await reader.readLine() == bytes("STARTTLS\r\n"))
            #expect(reader.bufferedByteCount == 10)
            let error = await expectIOError(.invalidArgument) {
                try await server.startTLS(context: try tlsServerContext(), reader: reader)
            }
            #expect(error?.message.hasPrefix("STARTTLS refused:") == true, "\(String(describing: error))")
            #expect(server.fileDescriptor >= 0, "the plain socket is not given up")
            #expect(try await reader.readLine() == bytes("INJECTED\r\n"))
        }
    }

    @Test("STARTTLS is accepted when nothing follows the command; the reader is closed and the conversation continues over TLS")
    func acceptedWhenClean() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tcpPair()
            defer { client.close(); server.close() }
            try client.setTimeout(seconds: 10)
            try server.setTimeout(seconds: 10)
            let serverContext = try tlsServerContext()
            let serverSide = Hub.current!.spawn { () -> ([UInt8]?, [UInt8], Bool) in
                let reader = try server.makeReader()
                let command = try await reader.readLine()
                try await server.sendAll(bytes("220 ready\r\n"))
                let tls = try await server.startTLS(context: serverContext, reader: reader)
                defer { tls.close() }
                return (command, try await tlsRecvExactly(tls, 6), reader.isClosed)
            }
            try await client.sendAll(bytes("STARTTLS\r\n"))
            #expect(try await receive(11, from: client) == bytes("220 ready\r\n"))
            let tls = try await client.startTLS(context: try tlsClientContext(), serverHostname: "localhost")
            defer { tls.close() }
            #expect(tls.negotiatedVersion == "TLSv1.3")
            try await tlsSendAll(tls, bytes("secret"))
            let (command, secret, readerClosed) = try await serverSide.value
            #expect(command == bytes("STARTTLS\r\n"))
            #expect(secret == bytes("secret"))
            #expect(readerClosed)
        }
    }

    @Test("a STARTTLS client refuses when the server sent cleartext bytes before the handshake (injected after its reply)")
    func clientRefusesInjectedReply() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tcpPair()
            defer { client.close(); server.close() }
            try client.setTimeout(seconds: 10)
            try await server.sendAll(bytes("220 ready\r\nINJECTED"))
            #expect(try await receive(11, from: client) == bytes("220 ready\r\n"))
            let error = await expectIOError(.invalidArgument) {
                try await client.startTLS(context: try tlsClientContext(), serverHostname: "localhost")
            }
            #expect(error?.message.hasPrefix("STARTTLS refused:") == true, "\(String(describing: error))")
            #expect(client.fileDescriptor >= 0)
        }
    }
}

/// TLS 1.3 key updates requested by the peer. OpenSSL 3 answers a requested update with the next
/// write, not from inside the read that received it, so this is not a "reader that must write"
/// (EVT-50 covers that: a server reader drives the TLS 1.2 handshake's writes).
@Suite("TLS key update", .timeLimit(.minutes(1)))
struct TLSKeyUpdateTests {
    @Test("a read processes the peer's requested TLS 1.3 key update and returns the data; the answer goes out with the next write; both directions keep working, repeatedly")
    func readerProcessesKeyUpdate() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsPair()
            defer { client.close(); server.close() }
            let serverSSL = try #require(server.ssl)
            for round in 0..<4 {
                #expect(SSL_key_update(serverSSL, SSL_KEY_UPDATE_REQUESTED) == 1)
                try await tlsSendAll(server, bytes("round \(round)"))  // the KeyUpdate goes out first
                #expect(try await tlsRecvExactly(client, 7) == bytes("round \(round)"))
                try await tlsSendAll(client, bytes("ack \(round)"))
                #expect(try await tlsRecvExactly(server, 5) == bytes("ack \(round)"))
            }
            // And a key update the client asks for itself.
            let clientSSL = try #require(client.ssl)
            #expect(SSL_key_update(clientSSL, SSL_KEY_UPDATE_REQUESTED) == 1)
            try await tlsSendAll(client, bytes("hello"))
            #expect(try await tlsRecvExactly(server, 5) == bytes("hello"))
            try await tlsSendAll(server, bytes("world"))
            #expect(try await tlsRecvExactly(client, 5) == bytes("world"))
        }
    }
}
