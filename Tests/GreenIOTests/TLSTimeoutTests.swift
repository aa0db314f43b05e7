import Glibc
import Testing
@testable import GreenIO
import GreenIOTesting

/// TLS timeouts and CPU use: CPY-71, CPY-72, CPY-79 (write timeout), EVT-37, EVT-45, EVT-49.
/// On virtual time (GreenIOTesting) each timeout is exact; EVT-37 measures CPU, on the real clock.
@Suite("TLS timeouts", .serialized, .timeLimit(.minutes(1)))
struct TLSTimeoutTests {
    @Test("CPY-71 TLS read timeout: \"The read operation timed out\", the raw object latches, the TLS socket still receives later data")
    func readTimeout() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            let (client, server) = try await tlsPair(noDelay: true, clientTimeout: .timeout(.milliseconds(200)))
            defer { client.close(); server.close() }
            let raw = try #require(try client.makefile("rb", buffering: 0).raw)
            defer { raw.close() }
            let buffer = scratch(16)
            defer { buffer.deallocate() }
            let start = time.elapsed
            let error = await expectIOError(.timedOut, message: "The read operation timed out") { try await raw.readInto(buffer) }
            let elapsed = time.elapsed - start
            #expect(error?.message.contains("timed out") == true)
            #expect(elapsed == .milliseconds(200), "elapsed \(elapsed)")
            #expect(raw.timeoutOccurred)
            await expectIOError(.timedOutObject, message: "cannot read from timed out object") { try await raw.readInto(buffer) }
            try await tlsSendAll(server, bytes("hi"))
            #expect(try await tlsRecv(client, 10) == bytes("hi"))
        }
    }

    @Test("CPY-72 handshake timeout: wrapping against a server that never speaks throws \"The handshake operation timed out\" and closes the TLS socket")
    func handshakeTimeoutOnWrap() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            let listener = try await Socket.listen(host: "127.0.0.1", port: 0)
            defer { listener.close() }
            let plain = try Socket(family: AF_INET)
            try plain.setTimeout(.timeout(.milliseconds(200)))
            try await plain.connect(to: try listener.localAddress())
            let (silent, _) = try await listener.accept()
            defer { silent.close() }
            let start = time.elapsed
            let error = await expectIOError(.timedOut, message: "The handshake operation timed out") {
                try await TLSSocket.wrap(plain, context: try tlsClientContext(), serverHostname: "localhost")
            }
            let elapsed = time.elapsed - start
            #expect(error?.message.contains("timed out") == true)
            #expect(elapsed == .milliseconds(200), "elapsed \(elapsed)")
            #expect(plain.fileDescriptor == -1, "the plain socket was detached")
            // The TLS socket was closed: the silent server sees the end of the stream once it has
            // consumed the ClientHello.
            try silent.setTimeout(seconds: 5)
            let hello = try await readToEnd(silent)
            #expect(hello.first == 0x16, "a TLS handshake record came first")
        }
    }

    @Test("CPY-72 connect on a pre-wrapped socket times out in the handshake; the socket then reports -1 once closed")
    func handshakeTimeoutOnConnect() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            let listener = try await Socket.listen(host: "127.0.0.1", port: 0)
            defer { listener.close() }
            let plain = try Socket(family: AF_INET)
            try plain.setTimeout(.timeout(.milliseconds(200)))
            let tls = try await TLSSocket.wrap(plain, context: try tlsClientContext(), serverHostname: "localhost")
            defer { tls.close() }
            let acceptor = Hub.current!.spawn { try await listener.accept().0 }
            await expectIOError(.timedOut, message: "The handshake operation timed out") {
                try await tls.connect(to: try listener.localAddress())
            }
            let silent = try await acceptor.value
            defer { silent.close() }
            tls.close()
            #expect(tls.fileDescriptor == -1)
        }
    }

    @Test("CPY-79 sendAll of a large buffer to a peer that does not read, with a timeout: \"The write operation timed out\"; every later write fails the same way (Go's rule); reads still work")
    func writeTimeoutBreaksWrites() async throws {
        try await VirtualTime.run(limit: .seconds(30)) { time in
            let (client, server) = try await tlsPair(noDelay: true, clientTimeout: .timeout(.milliseconds(300)), configure: tlsSmallBuffers)
            defer { client.close(); server.close() }
            let data = pattern(from: 0, count: 8_000_000)
            let start = time.elapsed
            let error = await expectIOError(.timedOut, message: "The write operation timed out") { try await tlsSendAll(client, data) }
            let elapsed = time.elapsed - start
            #expect(error?.errno == nil)
            #expect(elapsed == .milliseconds(300), "elapsed \(elapsed)")
            for _ in 0..<2 {
                await expectIOError(.timedOut, message: "The write operation timed out") { try await tlsSend(client, bytes("x")) }
            }
            let writer = try client.makeWriter()
            _ = try await writer.write(bytes("buffered"))
            await expectIOError(.timedOut, message: "The write operation timed out") { try await writer.flush() }
            try? await writer.close()
            // The read side is not broken.
            try await tlsSendAll(server, bytes("still readable"))
            #expect(try await tlsRecvExactly(client, 14) == bytes("still readable"))
        }
    }

    @Test("CPY-79 shutdown(.write) after a write timed out still ends the stream: the peer reads what arrived, then the end, without waiting for its own timeout")
    func shutdownAfterWriteTimeout() async throws {
        try await VirtualTime.run(limit: .seconds(30)) { time in
            let (client, server) = try await tlsPair(noDelay: true, clientTimeout: .timeout(.milliseconds(300)), configure: tlsSmallBuffers)
            defer { client.close(); server.close() }
            await expectIOError(.timedOut) { try await tlsSendAll(client, pattern(from: 0, count: 8_000_000)) }
            try client.shutdown(.write)
            let start = time.elapsed
            let (count, _) = try await tlsReceiveStream(server)
            #expect(count > 0)
            #expect(time.elapsed == start, "the end of the stream came at once, not after the reader's timeout")
        }
    }

    @Test("(real clock) EVT-37 no busy loop on WANT_WRITE: tiny socket buffers, sendAll of 100 000 bytes to a peer that does not read for 0.2 s uses little of the hub thread's CPU")
    func noBusyLoopOnWantWrite() async throws {
        try await onHub(limit: .seconds(30)) {
            let (client, server) = try await tlsPair(serverTimeout: .timeout(.milliseconds(200)))
            defer { client.close(); server.close() }
            for socket in [client.socket, server.socket] {
                try socket.setOption(.sendBufferSize, 1000)
                try socket.setOption(.receiveBufferSize, 1000)
            }
            let data = pattern(from: 0, count: 100_000)
            let cpuStart = hubThreadCPUSeconds()
            let start = ContinuousClock.now
            await expectIOError(.timedOut, message: "The write operation timed out") { try await tlsSendAll(server, data) }
            let cpu = hubThreadCPUSeconds() - cpuStart
            let wall = secondsSince(start)
            #expect(wall >= 0.15, "wall \(wall)")
            #expect(cpu < 0.25 * wall, "hub thread CPU \(cpu) s over \(wall) s")
        }
    }

    @Test("EVT-45 an idle TLS peer with timeout 1 s: the socket timeout error (not a TLS error) after about 1 s; the file latches")
    func idlePeerTimeout() async throws {
        try await VirtualTime.run(limit: .seconds(30)) { time in
            let (client, server) = try await tlsPair(noDelay: true, clientTimeout: .timeout(.seconds(1)))
            defer { client.close(); server.close() }
            let reader = try #require(try client.makefile("rb").reader)
            defer { reader.close() }
            let start = time.elapsed
            let error = await expectIOError(.timedOut, message: "The read operation timed out") { try await reader.readLine() }
            let elapsed = time.elapsed - start
            #expect(error?.kind != .tls)
            #expect(elapsed == .seconds(1), "elapsed \(elapsed)")
            await expectIOError(.timedOutObject, message: "cannot read from timed out object") { try await reader.readLine() }
        }
    }

    @Test("EVT-49 server handshake timeout: a client that connects and never speaks; wrap with timeout 0.2 s throws \"The handshake operation timed out\" and closes the connection")
    func serverHandshakeTimeout() async throws {
        try await VirtualTime.run(limit: .seconds(30)) { time in
            let listener = try await Socket.listen(host: "127.0.0.1", port: 0)
            defer { listener.close() }
            let silent = try await Socket.connect(host: "127.0.0.1", port: try listener.localAddress().port ?? 0,
                                                  timeout: .timeout(.seconds(5)))
            defer { silent.close() }
            let (connection, _) = try await listener.accept()
            try connection.setTimeout(.timeout(.milliseconds(200)))
            let start = time.elapsed
            await expectIOError(.timedOut, message: "The handshake operation timed out") {
                try await TLSSocket.wrap(connection, context: try tlsServerContext())
            }
            let elapsed = time.elapsed - start
            #expect(elapsed == .milliseconds(200), "elapsed \(elapsed)")
            #expect(connection.fileDescriptor == -1)
            #expect(try await readToEnd(silent) == [], "closed, having sent nothing")
        }
    }
}
