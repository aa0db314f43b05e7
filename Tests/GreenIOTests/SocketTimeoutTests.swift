import Glibc
import Testing
@testable import GreenIO
import GreenIOTesting

/// A loopback listener made with `listen(0)` whose backlog is full, so that a further connect hangs
/// (its SYNs are dropped). The first filler connects completely (it takes the one queue place); the
/// others stay pending. Close everything returned.
private func fullBacklogListener() async throws -> (listener: Socket, address: SocketAddress, fillers: [Socket]) {
    let listener = try Socket(family: AF_INET)
    try listener.bind(to: .ipv4(host: "127.0.0.1", port: 0))
    try listener.listen(backlog: 0)
    let address = try listener.localAddress()
    let first = try Socket(family: AF_INET)
    try first.setTimeout(seconds: 5)
    try await first.connect(to: address)
    var fillers = [first]
    for _ in 0..<3 {
        let filler = try Socket(family: AF_INET)
        try filler.setTimeout(.nonBlocking)
        _ = try await filler.connectEx(to: address)
        fillers.append(filler)
    }
    return (listener, address, fillers)
}

/// Timeouts of plain sockets and raw file objects: CPY-66 … CPY-68, EVT-08, EVT-14 … EVT-21, EVT-56,
/// EVT-59. Durations are measured, so the suite runs serially; bounds are generous.
// Virtual time (GreenIOTesting) makes each timeout exact; EVT-14 and the first CPY-68 run on the
// real clock as the cross-check.
@Suite("Socket timeouts", .serialized, .timeLimit(.minutes(1)))
struct SocketTimeoutTests {
    @Test("(real clock) EVT-14 recv timeout: an idle connection with timeout 0.1 s throws \"timed out\" after about 0.1 s")
    func recvTimeout() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tcpPair()
            defer { client.close(); server.close() }
            try client.setTimeout(seconds: 0.1)
            let start = ContinuousClock.now
            let error = await expectIOError(.timedOut, message: "timed out") { try await client.recv(8192) }
            let elapsed = secondsSince(start)
            #expect(error?.errno == nil)
            #expect(elapsed >= 0.09 && elapsed < 5, "elapsed \(elapsed)")
            // The connection is still usable.
            try await server.sendAll(bytes("late"))
            #expect(try await client.recv(10) == bytes("late"))
        }
    }

    @Test("EVT-15 recvInto and the raw receive time out the same way; a deadline earlier than the timeout wins")
    func recvIntoTimeout() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            let (client, server) = try await tcpPair()
            defer { client.close(); server.close() }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 100, alignment: 1)
            defer { buffer.deallocate() }
            try client.setTimeout(seconds: 0.1)
            var start = time.elapsed
            await expectIOError(.timedOut, message: "timed out") { try await client.recvInto(buffer) }
            var elapsed = time.elapsed - start
            #expect(elapsed == .milliseconds(100), "elapsed \(elapsed)")

            try client.setTimeout(seconds: 10)
            start = time.elapsed
            await expectIOError(.timedOut) { try await client.receive(into: buffer, deadline: .after(.milliseconds(100))) }
            elapsed = time.elapsed - start
            #expect(elapsed == .milliseconds(100), "elapsed \(elapsed)")

            try client.setTimeout(.blocking)
            start = time.elapsed
            await expectIOError(.timedOut) { try await client.receive(into: buffer, deadline: .after(.milliseconds(100))) }
            elapsed = time.elapsed - start
            #expect(elapsed == .milliseconds(100), "elapsed \(elapsed)")
        }
    }

    @Test("EVT-08 zero-length reads honour timeouts: recv(0), recvInto(empty) and raw readInto(empty) time out on an idle peer")
    func zeroLengthReadTimeout() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let empty = UnsafeMutableRawBufferPointer.allocate(byteCount: 0, alignment: 1)
            defer { empty.deallocate() }
            try a.setTimeout(seconds: 0.1)
            for attempt in 0..<3 {
                let start = time.elapsed
                switch attempt {
                case 0: await expectIOError(.timedOut) { try await a.recv(0) }
                case 1: await expectIOError(.timedOut) { try await a.recvInto(empty) }
                default:
                    let file = try a.makeSocketIO(mode: "rb")
                    await expectIOError(.timedOut) { try await file.readInto(empty) }
                    #expect(file.timeoutOccurred)
                    file.close()
                }
                let elapsed = time.elapsed - start
                #expect(elapsed == .milliseconds(100), "attempt \(attempt): elapsed \(elapsed)")
            }
            // Non-blocking: a zero-length read with nothing to read would block (CPython returns b'').
            try a.setTimeout(.nonBlocking)
            await expectIOError(.wouldBlock, errno: EAGAIN) { try await a.recv(0) }
            // With data waiting, a zero-length read returns at once and consumes nothing.
            try a.setTimeout(seconds: 0.1)
            try await b.sendAll(bytes("kept"))
            #expect(try await a.recv(0) == [])
            #expect(try await a.recvInto(empty) == 0)
            #expect(try await a.recv(10) == bytes("kept"))
            // At the end of the stream it returns at once too.
            b.close()
            #expect(try await a.recv(0) == [])
        }
    }

    @Test("EVT-16 / CPY-66 accept with timeout 0.1 s and no client times out; with timeout 0 it would block (not a timeout)")
    func acceptTimeout() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            let listener = try await Socket.listen(host: "127.0.0.1", port: 0)
            defer { listener.close() }
            try listener.setTimeout(seconds: 0.1)
            let start = time.elapsed
            await expectIOError(.timedOut, message: "timed out") { try await listener.accept() }
            let elapsed = time.elapsed - start
            #expect(elapsed == .milliseconds(100), "elapsed \(elapsed)")
            try listener.setTimeout(seconds: 0)
            let error = await expectIOError(.wouldBlock, errno: EAGAIN) { try await listener.accept() }
            #expect(error?.kind != .timedOut)
        }
    }

    @Test("EVT-17 / CPY-67 connect with timeout to a full listen(0) backlog times out; a second connect reports EALREADY")
    func connectTimeout() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            let (listener, address, fillers) = try await fullBacklogListener()
            defer { listener.close(); fillers.forEach { $0.close() } }
            let socket = try Socket(family: AF_INET)
            defer { socket.close() }
            try socket.setTimeout(seconds: 0.3)
            let start = time.elapsed
            let error = await expectIOError(.timedOut, message: "timed out") { try await socket.connect(to: address) }
            let elapsed = time.elapsed - start
            #expect(error?.errno == nil)
            #expect(elapsed == .milliseconds(300), "elapsed \(elapsed)")
            await expectIOError(.wouldBlock, errno: EALREADY) { try await socket.connect(to: address) }
        }
    }

    @Test("EVT-18 / CPY-67 connectEx with timeout to a full backlog returns EAGAIN; non-blocking gives EINPROGRESS then EALREADY")
    func connectExTimeout() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            let (listener, address, fillers) = try await fullBacklogListener()
            defer { listener.close(); fillers.forEach { $0.close() } }
            let timed = try Socket(family: AF_INET)
            defer { timed.close() }
            try timed.setTimeout(seconds: 0.2)
            let start = time.elapsed
            #expect(try await timed.connectEx(to: address) == EAGAIN)
            let elapsed = time.elapsed - start
            #expect(elapsed == .milliseconds(200), "elapsed \(elapsed)")

            let nonBlocking = try Socket(family: AF_INET)
            defer { nonBlocking.close() }
            try nonBlocking.setTimeout(.nonBlocking)
            #expect(try await nonBlocking.connectEx(to: address) == EINPROGRESS)
            #expect(try await nonBlocking.connectEx(to: address) == EALREADY)
            let nonBlocking2 = try Socket(family: AF_INET)
            defer { nonBlocking2.close() }
            try nonBlocking2.setTimeout(.nonBlocking)
            await expectIOError(.wouldBlock, errno: EINPROGRESS) { try await nonBlocking2.connect(to: address) }
            await expectIOError(.wouldBlock, errno: EALREADY) { try await nonBlocking2.connect(to: address) }
        }
    }

    @Test("CPY-67 connect waits for the handshake even when the hub already saw the new socket as ready")
    func connectAfterHubPoll() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            let (listener, address, fillers) = try await fullBacklogListener()
            defer { listener.close(); fillers.forEach { $0.close() } }
            let socket = try Socket(family: AF_INET)
            defer { socket.close() }
            try socket.setTimeout(seconds: 0.3)
            // Let the hub poll the fresh, unconnected socket before connecting.
            for _ in 0..<3 { try await Hub.yield() }
            let start = time.elapsed
            await expectIOError(.timedOut) { try await socket.connect(to: address) }
            let elapsed = time.elapsed - start
            #expect(elapsed == .milliseconds(300), "elapsed \(elapsed)")

            // Against a listener with room, connect returns only once connected.
            let open = try await Socket.listen(host: "127.0.0.1", port: 0)
            defer { open.close() }
            let client = try Socket(family: AF_INET)
            defer { client.close() }
            for _ in 0..<3 { try await Hub.yield() }
            try await client.connect(to: try open.localAddress())
            #expect(try client.peerAddress() == (try open.localAddress()))
        }
    }

    @Test("(real clock) CPY-68 sendAll with timeout 0.3 s to a non-reading peer times out after about 0.3 s, reporting bytes transferred")
    func sendAllTimeout() async throws {
        try await onHub(limit: .seconds(30)) {
            let (client, server) = try await tcpPair()
            defer { client.close(); server.close() }
            try client.setOption(.sendBufferSize, 4096)
            try server.setOption(.receiveBufferSize, 4096)
            try client.setTimeout(seconds: 0.3)
            let total = 32 << 20
            let data = [UInt8](repeating: 0x42, count: total)
            let start = ContinuousClock.now
            let error = await expectIOError(.timedOut, message: "timed out") { try await client.sendAll(data) }
            let elapsed = secondsSince(start)
            #expect(elapsed >= 0.27 && elapsed < 5, "elapsed \(elapsed)")
            let sent = try #require(error?.bytesTransferred)
            #expect(sent > 0 && sent < total, "sent \(sent)")
        }
    }

    @Test("EVT-19 sendAll has one overall deadline: a slowly reading peer cannot stretch it")
    func sendAllOverallDeadline() async throws {
        try await VirtualTime.run(limit: .seconds(30)) { time in
            let (client, server) = try await tcpPair()
            defer { client.close(); server.close() }
            try client.setOption(.sendBufferSize, 4096)
            try server.setOption(.receiveBufferSize, 4096)
            // The peer keeps reading a little, so every single send makes progress within the timeout.
            let drip = Hub.current!.spawn { () async throws -> Int in
                var received = 0
                do {
                    while true {
                        received += try await server.recv(8192).count
                        try await Hub.sleep(for: .milliseconds(20))
                    }
                } catch is CancellationError {}
                return received
            }
            try client.setTimeout(seconds: 0.3)
            let total = 32 << 20
            let start = time.elapsed
            let error = await expectIOError(.timedOut) { try await client.sendAll([UInt8](repeating: 1, count: total)) }
            let elapsed = time.elapsed - start
            drip.cancel()
            #expect(elapsed == .milliseconds(300), "elapsed \(elapsed)")
            let sent = try #require(error?.bytesTransferred)
            #expect(sent > 0 && sent < total, "sent \(sent)")
            let received = try await drip.value
            #expect(received > 0)
        }
    }

    @Test("CPY-68 non-blocking sendAll throws would-block with the exact count accepted; 2048-byte sendAll arrives whole")
    func nonBlockingSendAll() async throws {
        try await VirtualTime.run(limit: .seconds(30)) { time in
            let (client, server) = try await tcpPair()
            defer { client.close(); server.close() }
            try client.setTimeout(.nonBlocking)
            let total = 32 << 20
            let error = await expectIOError(.wouldBlock, errno: EAGAIN) {
                try await client.sendAll([UInt8](repeating: 7, count: total))
            }
            let sent = try #require(error?.bytesTransferred)
            #expect(sent > 0 && sent < total, "sent \(sent)")
            // The peer gets exactly that many bytes.
            var received = 0
            try server.setTimeout(seconds: 2)
            while received < sent { received += try await server.recv(1 << 20).count }
            #expect(received == sent)
            try server.setTimeout(.nonBlocking)
            await expectIOError(.wouldBlock) { try await server.recv(1) }

            try client.setTimeout(.blocking)
            let message = (0..<2048).map { UInt8(truncatingIfNeeded: $0) }
            try await client.sendAll(message)
            client.close()
            try server.setTimeout(.blocking)
            #expect(try await readToEnd(server) == message)
        }
    }

    @Test("EVT-20 mode round trip: timeout 0.05 times out, 0 would block at once, 0.05 times out again")
    func zeroTimeoutAndBack() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(seconds: 0.05)
            var start = time.elapsed
            await expectIOError(.timedOut) { try await a.recv(1) }
            var elapsed = time.elapsed - start
            #expect(elapsed == .milliseconds(50), "elapsed \(elapsed)")
            try a.setTimeout(seconds: 0)
            #expect(a.timeout == .nonBlocking)
            await expectIOError(.wouldBlock, errno: EAGAIN) { try await a.recv(1) }
            try a.setTimeout(seconds: 0.05)
            start = time.elapsed
            await expectIOError(.timedOut) { try await a.recv(1) }
            elapsed = time.elapsed - start
            #expect(elapsed == .milliseconds(50), "elapsed \(elapsed)")
        }
    }

    @Test("EVT-21 the raw file latches after a readLine timeout; a new makeSocketIO reads the data")
    func latchAndNewFile() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            let (client, server) = try await tcpPair()
            defer { client.close(); server.close() }
            try client.setTimeout(seconds: 0.1)
            let file = try client.makeSocketIO(mode: "rb")
            defer { file.close() }
            let start = time.elapsed
            await expectIOError(.timedOut, message: "timed out") { try await file.readLine() }
            let elapsed = time.elapsed - start
            #expect(elapsed == .milliseconds(100), "elapsed \(elapsed)")
            try await server.sendAll(bytes("line\n"))
            await expectIOError(.timedOutObject, message: "cannot read from timed out object") { try await file.readLine() }
            let fresh = try client.makeSocketIO(mode: "rb")
            defer { fresh.close() }
            #expect(try await fresh.readLine() == bytes("line\n"))
        }
    }

    @Test("EVT-56 closing a socket from another green thread wakes its blocked reader with .closed (EBADF)")
    func closeWakesReader() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let reader = Hub.current!.spawn { () async throws -> Duration in
                let error = await expectIOError(.closed, errno: EBADF) { try await a.recv(10) }
                #expect(error?.message == "File descriptor was closed by another green thread")
                return time.elapsed
            }
            let closer = Hub.current!.spawn { () async throws -> Duration in
                try await Hub.sleep(for: .milliseconds(100))
                a.close()
                return time.elapsed
            }
            let woke = try await reader.value
            let closed = try await closer.value
            #expect(closed == .milliseconds(100))
            #expect(woke == closed, "the reader woke at the close, not later")
            await expectIOError(.system, errno: EBADF) { try await a.recv(10) }
            #expect(parkedWaiters == 0)
        }
    }

    @Test("EVT-56 closing a listener from another green thread wakes its blocked accept with .closed")
    func closeWakesAccept() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            let listener = try await Socket.listen(host: "127.0.0.1", port: 0)
            defer { listener.close() }
            let acceptor = Hub.current!.spawn { await expectIOError(.closed, errno: EBADF) { try await listener.accept() } }
            #expect(try await yieldUntil { parkedWaiters == 1 })
            listener.close()
            _ = try await acceptor.value
            #expect(parkedWaiters == 0)
            await expectIOError(.system, errno: EBADF) { try await listener.accept() }
        }
    }

    @Test("EVT-56 closing from another thread (off the hub) wakes a blocked reader and writer")
    func closeFromAnotherThread() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            // Fill a's send buffer so a writer blocks too.
            try a.setTimeout(.nonBlocking)
            while (try? await a.send([UInt8](repeating: 0, count: 65536))) != nil {}
            try a.setTimeout(.blocking)
            let reader = Hub.current!.spawn { await expectIOError(.closed) { try await a.recv(10) } }
            let writer = Hub.current!.spawn { await expectIOError(.closed) { try await a.sendAll([1, 2, 3]) } }
            #expect(try await yieldUntil { parkedWaiters == 2 })
            await Task.detached { a.close() }.value
            _ = try await reader.value
            _ = try await writer.value
            #expect(a.fileDescriptor == -1)
        }
    }

    @Test("EVT-59 a timed-out wait leaves nothing on the hub and is not resumed by later I/O")
    func timedOutWaiterNotResumed() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(seconds: 0.01)
            await expectIOError(.timedOut) { try await a.recv(10) }
            let hub = Hub.current!
            #expect(hub.statistics.fileDescriptorWaiters == 0)
            #expect(hub.statistics.pendingTimers == 0)
            try await b.sendAll(bytes("after"))
            for _ in 0..<10 { try await Hub.yield() }
            #expect(hub.statistics.fileDescriptorWaiters == 0)
            #expect(try await a.recv(10) == bytes("after"))
        }
    }
}
