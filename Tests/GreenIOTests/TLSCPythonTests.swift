import Glibc
import Testing
@testable import GreenIO

/// CPython's `ssl.SSLSocket` conformance (CPython's TLS scenarios, CPY-69 … CPY-80) over real
/// TCP loopback. MemoryBIO-only parts (`SSLObject`, `write_eof`) are not tested: GreenIO has no
/// MemoryBIO API. Deliberate differences: want-read / want-write are `.wouldBlock(direction)`
/// outcomes and nil from the file objects, never errors (CPython raises `SSLWantReadError`); a
/// buffered readline over non-blocking TLS keeps its partial line.
@Suite("TLS CPython conformance", .timeLimit(.minutes(1)))
struct TLSCPythonTests {
    @Test("CPY-69 non-blocking TLS with no data: raw receive is .wouldBlock(.read), SocketIO readInto is nil, every time")
    func nonBlockingWantRead() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsPair(clientTimeout: .nonBlocking)
            defer { client.close(); server.close() }
            let buffer = scratch(100)
            defer { buffer.deallocate() }
            for _ in 0..<3 {
                #expect(try await client.receive(into: buffer, deadline: nil) == .wouldBlock(.read))
            }
            let raw = try #require(try client.makefile("rb", buffering: 0).raw)
            defer { raw.close() }
            #expect(try await raw.readInto(buffer) == nil)
            #expect(try await raw.readInto(buffer) == nil)
            #expect(raw.timeoutOccurred == false)
            // Data that arrives later is read normally.
            try await tlsSendAll(server, bytes("late"))
            let got = try await tlsPoll { try await raw.read(100) }
            #expect(got == bytes("late"))
        }
    }

    @Test("CPY-69 a non-blocking handshake (handshake: false) returns the direction to wait for; a loop driven by hub waits completes on both sides")
    func nonBlockingHandshakeLoop() async throws {
        try await onHub(limit: .seconds(20)) {
            let (plainClient, plainServer) = try await tcpPair()
            try plainClient.setTimeout(.nonBlocking)
            try plainServer.setTimeout(.nonBlocking)
            let client = try await TLSSocket.wrap(plainClient, context: try tlsClientContext(), serverHostname: "localhost",
                                                  handshake: false)
            let server = try await TLSSocket.wrap(plainServer, context: try tlsServerContext(), handshake: false)
            defer { client.close(); server.close() }
            #expect(client.negotiatedVersion == nil)
            let serverSteps = Hub.current!.spawn { () -> Int in
                var waits = 0
                while let direction = try await server.handshake() {
                    waits += 1
                    try await Hub.current!.wait(for: direction, on: server.fileDescriptor, deadline: .after(.seconds(10)))
                }
                return waits
            }
            var clientWaits = 0
            var directions: Set<Interest> = []
            while let direction = try await client.handshake() {
                clientWaits += 1
                directions.insert(direction)
                try await Hub.current!.wait(for: direction, on: client.fileDescriptor, deadline: .after(.seconds(10)))
            }
            let serverWaits = try await serverSteps.value
            #expect(clientWaits >= 1, "the client must have waited for the server's flight")
            #expect(directions.contains(.read))
            #expect(serverWaits >= 1)
            #expect(client.negotiatedVersion == "TLSv1.3")
            #expect(server.negotiatedVersion == "TLSv1.3")
            #expect(try await client.handshake() == nil, "a finished handshake stays finished")
            // Application data flows in non-blocking mode.
            #expect(try await tlsSend(client, bytes("ping")) == .completed(4))
            let got = try await tlsPoll { try await tlsRecv(server, 10) }
            #expect(got == bytes("ping"))
        }
    }

    @Test("CPY-70 seed: non-blocking raw readInto is nil; a buffered readLine after \"abc\" is nil with abc kept, then abcdef")
    func seedNonBlockingReadLine() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsPair(clientTimeout: .nonBlocking)
            defer { client.close(); server.close() }
            let raw = try #require(try client.makefile("rb", buffering: 0).raw)
            defer { raw.close() }
            let buffer = scratch(16)
            defer { buffer.deallocate() }
            #expect(try await raw.readInto(buffer) == nil)
            let reader = try client.makeReader()
            defer { reader.close() }
            #expect(try await reader.readLine() == nil)
            try await tlsSendAll(server, bytes("abc"))
            // Every readLine says "would block" (never a partial line, never an error) until the
            // three bytes are in the buffer.
            try await tlsPoll { () async throws -> Bool? in
                #expect(try await reader.readLine() == nil)
                return reader.bufferedByteCount == 3 ? true : nil
            }
            #expect(try await reader.readLine() == nil)
            try await tlsSendAll(server, bytes("def\n"))
            let line = try await tlsPoll { try await reader.readLine() }
            #expect(line == bytes("abcdef\n"))
            #expect(try await reader.readLine() == nil)
        }
    }

    @Test("CPY-72 wrap with handshake of a non-blocking socket is refused (and closes it); handshake on an unconnected TLS socket is ENOTCONN")
    func handshakeArgumentErrors() async throws {
        try await onHub(limit: .seconds(20)) {
            let (plainClient, plainServer) = try await tcpPair()
            defer { plainServer.close() }
            try plainClient.setTimeout(.nonBlocking)
            await expectIOError(.invalidArgument, message: "do_handshake_on_connect should not be specified for non-blocking sockets") {
                try await TLSSocket.wrap(plainClient, context: try tlsClientContext(), serverHostname: "localhost")
            }
            #expect(plainClient.isClosed)
            #expect(plainClient.fileDescriptor == -1)

            let unconnected = try Socket(family: AF_INET)
            let tls = try await TLSSocket.wrap(unconnected, context: try tlsClientContext(), serverHostname: "localhost")
            defer { tls.close() }
            await expectIOError(.system, errno: ENOTCONN) { try await tls.handshake() }
            #expect(tls.negotiatedVersion == nil)
        }
    }

    @Test("CPY-73 wrapping keeps the socket's timeout: blocking, non-blocking (no handshake) and 5 s")
    func wrapKeepsTimeout() async throws {
        try await onHub(limit: .seconds(20)) {
            for mode in [TimeoutMode.blocking, .nonBlocking, .timeout(.seconds(5))] {
                let plain = try Socket(family: AF_INET)
                try plain.setTimeout(mode)
                let tls = try await TLSSocket.wrap(plain, context: try tlsClientContext(), serverHostname: "localhost",
                                                   handshake: mode != .nonBlocking)
                #expect(tls.timeout == mode)
                tls.close()
            }
            // Connected, with the handshake: the same.
            let (client, server) = try await tlsPair(clientTimeout: .blocking, serverTimeout: .timeout(.seconds(5)))
            defer { client.close(); server.close() }
            #expect(client.timeout == .blocking)
            #expect(server.timeout == .timeout(.seconds(5)))
        }
    }

    @Test("CPY-74 pending(): a 100-byte record read 5 bytes at a time leaves 95 pending while the fd is not readable; recv(1000) gets them")
    func pendingBytes() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsPair()
            defer { client.close(); server.close() }
            let payload = pattern(from: 0, count: 100)
            #expect(try await tlsSend(server, payload) == .completed(100))
            #expect(client.pending == 0)
            let first = try await tlsRecv(client, 5)
            #expect(first == Array(payload[0..<5]))
            #expect(client.pending == 95)
            #expect(!tlsDescriptorIsReadable(client.fileDescriptor), "the rest is inside OpenSSL, not in the kernel")
            let rest = try await tlsRecv(client, 1000)
            #expect(rest == Array(payload[5...]))
            #expect(client.pending == 0)
        }
    }

    @Test("CPY-75 a clean close_notify reads as empty, repeatedly, for both suppressRaggedEOFs values", arguments: [true, false])
    func closeNotify(suppress: Bool) async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsPair(clientSuppressRaggedEOFs: suppress)
            defer { client.close(); server.close() }
            try await tlsSendAll(server, bytes("bye"))
            if suppress {
                server.close()  // close sends the close_notify
            } else {
                try server.shutdown(.write)
            }
            #expect(try await tlsRecv(client, 10) == bytes("bye"))
            for _ in 0..<3 { #expect(try await tlsRecv(client, 10) == []) }
            let reader = try client.makeReader()
            defer { reader.close() }
            #expect(try await reader.readLine() == [])
        }
    }

    @Test("CPY-76 ragged EOF, suppressed: recv empty, readInto 0, readLine empty; a write afterwards fails")
    func raggedSuppressed() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsPair(clientSuppressRaggedEOFs: true)
            defer { client.close(); server.close() }
            tlsRaggedClose(server)
            #expect(try await tlsRecv(client, 10) == [])
            #expect(try await tlsRecv(client, 10) == [])
            let raw = try #require(try client.makefile("rb", buffering: 0).raw)
            defer { raw.close() }
            let buffer = scratch(10)
            defer { buffer.deallocate() }
            #expect(try await raw.readInto(buffer) == 0)
            let reader = try client.makeReader()
            defer { reader.close() }
            #expect(try await reader.readLine() == [])
            let error = await tlsIOError { try await tlsSendAll(client, bytes("after")) }
            #expect(error != nil, "a write after a ragged EOF must fail")
        }
    }

    @Test("CPY-76 ragged EOF, not suppressed: .tlsEOF \"EOF occurred in violation of protocol\" on every read; a write afterwards fails")
    func raggedNotSuppressed() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsPair(clientSuppressRaggedEOFs: false)
            defer { client.close(); server.close() }
            tlsRaggedClose(server)
            for _ in 0..<3 {
                await expectIOError(.tlsEOF, message: "EOF occurred in violation of protocol") { try await tlsRecv(client, 10) }
            }
            let reader = try client.makeReader()
            defer { reader.close() }
            await expectIOError(.tlsEOF) { try await reader.readLine() }
            await expectIOError(.tlsEOF) { try await reader.readLine() }
            let error = await tlsIOError { try await tlsSendAll(client, bytes("after")) }
            #expect(error != nil, "a write after a ragged EOF must fail")
        }
    }

    @Test("CPY-77 unwrap: STARTTLS / ENDTLS round trip with clear text before and after; afterwards read, write and unwrap fail, pending is 0")
    func unwrapRoundTrip() async throws {
        try await onHub(limit: .seconds(20)) {
            let (plainClient, plainServer) = try await tcpPair()
            try plainClient.setTimeout(seconds: 10)
            try plainServer.setTimeout(seconds: 10)
            let serverContext = try tlsServerContext()
            let serverTask = Hub.current!.spawn { () -> [UInt8] in
                var log: [UInt8] = []
                log += try await receive(9, from: plainServer)  // "STARTTLS\n"
                try await plainServer.sendAll(bytes("OK\n"))
                let tls = try await plainServer.startTLS(context: serverContext)
                defer { tls.close() }
                log += try await tlsRecvExactly(tls, 7)  // "ENDTLS\n"
                try await tlsSendAll(tls, bytes("OK\n"))
                let plain = try #require(try await tls.unwrap())
                defer { plain.close() }
                log += try await receive(6, from: plain)  // "after\n"
                try await plain.sendAll(bytes("clear again\n"))
                return log
            }
            try await plainClient.sendAll(bytes("STARTTLS\n"))
            #expect(try await receive(3, from: plainClient) == bytes("OK\n"))
            let tls = try await plainClient.startTLS(context: try tlsClientContext(), serverHostname: "localhost")
            defer { tls.close() }
            try await tlsSendAll(tls, bytes("ENDTLS\n"))
            #expect(try await tlsRecvExactly(tls, 3) == bytes("OK\n"))
            let plain = try #require(try await tls.unwrap())
            defer { plain.close() }
            #expect(plain.timeout == .timeout(.seconds(10)))
            try await plain.sendAll(bytes("after\n"))
            #expect(try await receive(12, from: plain) == bytes("clear again\n"))
            #expect(try await serverTask.value == bytes("STARTTLS\nENDTLS\nafter\n"))

            await expectIOError(.invalidArgument, message: "Read on closed or unwrapped SSL socket.") { try await tlsRecv(tls, 10) }
            await expectIOError(.invalidArgument, message: "Write on closed or unwrapped SSL socket.") { try await tlsSend(tls, bytes("x")) }
            await expectIOError(.invalidArgument) { try await tls.unwrap() }
            #expect(tls.pending == 0)
            #expect(tls.fileDescriptor == -1)
        }
    }

    @Test("CPY-77 non-blocking unwrap returns nil until the peer's close_notify arrives, then the plain socket")
    func nonBlockingUnwrap() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsPair(clientTimeout: .nonBlocking)
            defer { client.close(); server.close() }
            #expect(try await client.unwrap() == nil)
            #expect(try await client.unwrap() == nil)
            let serverSide = Hub.current!.spawn { () -> Socket? in try await server.unwrap() }
            let plain = try await tlsPoll { try await client.unwrap() }
            defer { plain.close() }
            #expect(plain.timeout == .nonBlocking)
            let serverPlain = try #require(try await serverSide.value)
            defer { serverPlain.close() }
            try await serverPlain.sendAll(bytes("plain"))
            let got = try await tlsPoll { () async throws -> [UInt8]? in
                do { return try await plain.recv(10) } catch let error as IOError where error.kind == .wouldBlock { return nil }
            }
            #expect(got == bytes("plain"))
        }
    }

    @Test("CPY-78 zero sizes: an empty receive returns 0 at once (even blocking, no data), an empty send 0 (also non-blocking); a small buffer takes only what fits")
    func zeroSizes() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsPair(clientTimeout: .timeout(.seconds(2)))
            defer { client.close(); server.close() }
            let empty = UnsafeMutableRawBufferPointer(start: nil, count: 0)
            let start = ContinuousClock.now
            #expect(try await client.receive(into: empty, deadline: nil) == .completed(0))
            #expect(secondsSince(start) < 1, "recv(0) on TLS returns at once")
            #expect(try await tlsRecv(client, 0) == [])
            #expect(try await client.send(UnsafeRawBufferPointer(start: nil, count: 0), deadline: nil) == .completed(0))
            try client.setTimeout(.nonBlocking)
            #expect(try await client.receive(into: empty, deadline: nil) == .completed(0))
            #expect(try await tlsSend(client, []) == .completed(0))
            let raw = try #require(try client.makefile("rwb", buffering: 0).raw)
            defer { raw.close() }
            #expect(try await raw.readInto(empty) == 0)
            #expect(try await raw.write([]) == 0)
            try client.setTimeout(seconds: 5)
            try await tlsSendAll(server, pattern(from: 0, count: 10))
            let four = scratch(4)
            defer { four.deallocate() }
            #expect(try await client.receive(into: four, deadline: nil) == .completed(4))
            #expect(Array(four) == pattern(from: 0, count: 4))
            #expect(try await tlsRecv(client, 100) == pattern(from: 4, count: 6))
        }
    }

    /// Non-blocking sends of `block`-byte chunks until one would block; returns the bytes of the
    /// sends that completed (each all of its chunk) and the chunk that was refused.
    private func sendUntilBlocked(_ client: TLSSocket, block: Int) async throws -> (sent: [UInt8], refused: [UInt8]) {
        var sent: [UInt8] = []
        var round = 0
        while true {
            let data = pattern(from: round * block, count: block)
            switch try await tlsSend(client, data) {
            case .completed(let n):
                #expect(n == block, "a TLS send takes its record whole")
                sent += data
            case .wouldBlock(let direction):
                #expect(direction == .write)
                return (sent, data)
            }
            round += 1
            if round > 100_000 { throw IOError(.invalidArgument, "non-blocking sends never blocked") }
        }
    }

    /// A non-blocking send retried every few milliseconds until it takes its bytes.
    private func sendWhenTaken(_ client: TLSSocket, _ bytes: [UInt8]) async throws -> IOOutcome {
        try await tlsPoll { () async throws -> IOOutcome? in
            let outcome = try await tlsSend(client, bytes)
            if case .wouldBlock = outcome { return nil }
            return outcome
        }
    }

    @Test("CPY-79 non-blocking sends: each takes its record whole, they eventually would-block taking nothing; a retry may offer other bytes (CPython: bad write retry); every byte taken arrives once, in order")
    func nonBlockingSendRetry() async throws {
        try await onHub(limit: .seconds(30)) {
            let (client, server) = try await tlsPair(clientTimeout: .nonBlocking, configure: tlsSmallBuffers)
            defer { client.close(); server.close() }
            let (sent, refused) = try await sendUntilBlocked(client, block: 10_000)
            var other = refused + [1, 2, 3]
            other[0] &+= 1
            #expect(try await tlsSend(client, other) == .wouldBlock(.write), "still full: nothing taken, no error")
            let total = sent.count + other.count
            let receiver = Hub.current!.spawn { () -> [UInt8] in try await tlsRecvExactly(server, total) }
            let outcome = try await sendWhenTaken(client, other)
            #expect(outcome == .completed(other.count))
            let received = try await receiver.value
            #expect(received.count == total)
            #expect(received == sent + other, "every byte taken once, in order; the refused ones never")
        }
    }

    @Test("CPY-79 after would-block a shorter retry (CPython: BAD_LENGTH) sends just its bytes, and the next writes theirs")
    func nonBlockingShorterRetry() async throws {
        try await onHub(limit: .seconds(30)) {
            let (client, server) = try await tlsPair(clientTimeout: .nonBlocking, configure: tlsSmallBuffers)
            defer { client.close(); server.close() }
            let (sent, refused) = try await sendUntilBlocked(client, block: 16_384)
            let head = Array(refused[0..<1_000])
            let total = sent.count + head.count + 2
            let receiver = Hub.current!.spawn { () -> [UInt8] in try await tlsRecvExactly(server, total) }
            let outcome = try await sendWhenTaken(client, head)
            #expect(outcome == .completed(1_000))
            let last = try await sendWhenTaken(client, [9, 9])
            #expect(last == .completed(2))
            let received = try await receiver.value
            #expect(received == sent + head + [9, 9], "every byte once, in order")
        }
    }

    @Test("CPY-79 the record a non-blocking send reported written goes out with no further call: the hub sends it when the peer drains; shutdown(.write) right after a blocked send ends TCP only once it and the close_notify are out")
    func nonBlockingKeptRecordIsDelivered() async throws {
        try await onHub(limit: .seconds(30)) {
            let (client, server) = try await tlsPair(clientTimeout: .nonBlocking, configure: tlsSmallBuffers)
            defer { client.close(); server.close() }
            let (first, _) = try await sendUntilBlocked(client, block: 10_000)
            #expect(client.unsentByteCount > 0, "a would-block means ciphertext is kept")
            // No call on the client from here: only the hub can send what it kept.
            #expect(try await tlsRecvExactly(server, first.count) == first)
            #expect(client.unsentByteCount == 0)
            // Fill it again and shut down at once: the kept record and the close_notify still arrive.
            let (second, _) = try await sendUntilBlocked(client, block: 10_000)
            try client.shutdown(.write)
            #expect(try await tlsRecvExactly(server, second.count) == second)
            #expect(try await tlsRecv(server, 10) == [], "then a clean end of stream")
        }
    }

    @Test("CPY-79 a buffered writer over non-blocking TLS (buffer smaller than a record, and the default): write reports how much it took, flush retries until the peer drains, nothing is lost or doubled (CPython: BAD_LENGTH)",
          arguments: [3_000, defaultBufferSize])
    func bufferedWriterNonBlocking(bufferSize: Int) async throws {
        try await onHub(limit: .seconds(40)) {
            let (client, server) = try await tlsPair(clientTimeout: .nonBlocking, configure: tlsSmallBuffers)
            defer { client.close(); server.close() }
            let writer = try client.makeWriter(bufferSize: bufferSize)
            let data = tlsRandomBytes(2_000_000, seed: UInt64(bufferSize))
            let receiver = Hub.current!.spawn { () -> [UInt8] in
                try await Hub.sleep(for: .milliseconds(50))  // let the writer block first
                return try await tlsRecvExactly(server, data.count)
            }
            var offset = 0
            var blocks = 0
            try await tlsWithCopy(data) { all in
                try await tlsPoll(limit: .seconds(30), pause: .milliseconds(1)) { () async throws -> Bool? in
                    do {
                        if offset < all.count {
                            offset += try await writer.write(UnsafeRawBufferPointer(rebasing: all[offset...]))
                        }
                        try await writer.flush()
                        return true
                    } catch let error as IOError where error.kind == .wouldBlock {
                        offset += error.bytesTransferred ?? 0
                        blocks += 1
                        return nil
                    }
                }
            }
            try await writer.close()
            #expect(blocks > 0, "the writer must have blocked")
            let received = try await receiver.value
            #expect(received.count == data.count)
            #expect(received == data)
        }
    }

    @Test("CPY-80 makefile on TLS: closing the socket keeps the fd open while the file is open; closing the file closes it")
    func makefileClose() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsPair()
            defer { client.close(); server.close() }
            let fd = client.fileDescriptor
            let reader = try #require(try client.makefile("rb").reader)
            client.close()
            #expect(client.isClosed)
            #expect(client.fileDescriptor == fd)
            #expect(descriptorIsOpen(fd))
            try await tlsSendAll(server, bytes("still here\n"))
            #expect(try await reader.readLine() == bytes("still here\n"))
            reader.close()
            #expect(client.fileDescriptor == -1)
            // The peer sees a clean end of the stream.
            #expect(try await tlsRecv(server, 10) == [])
        }
    }

    @Test("CPY-80 readLine over TLS returns lines split across records")
    func readLineAcrossRecords() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsPair()
            defer { client.close(); server.close() }
            let writer = Hub.current!.spawn {
                for piece in ["hel", "lo\nwor", "ld\n", "x", "", "yz\nlast"] {
                    try await tlsSendAll(server, bytes(piece))
                    try await Hub.sleep(for: .milliseconds(5))
                }
                server.close()
            }
            let reader = try client.makeReader(bufferSize: 4)
            defer { reader.close() }
            var lines: [[UInt8]] = []
            while let line = try await reader.readLine(), !line.isEmpty { lines.append(line) }
            try await writer.value
            #expect(lines == [bytes("hello\n"), bytes("world\n"), bytes("xyz\n"), bytes("last")])
        }
    }

    @Test("CPY-80 read and write on a closed TLS socket fail with invalidArgument")
    func readWriteAfterClose() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsPair()
            defer { server.close() }
            client.close()
            await expectIOError(.invalidArgument, message: "Read on closed or unwrapped SSL socket.") { try await tlsRecv(client, 10) }
            await expectIOError(.invalidArgument, message: "Write on closed or unwrapped SSL socket.") { try await tlsSend(client, bytes("x")) }
        }
    }
}
