import Glibc
import Testing
@testable import GreenIO

/// CPY-17 … CPY-25 and EVT-01, EVT-06, EVT-07: reading and writing through the raw file object.
@Suite("SocketIO reads and writes", .timeLimit(.minutes(1)))
struct SocketIOReadWriteTests {
    @Test("CPY-17 blocking raw read(n) may return short; read(1) loop rebuilds MSG; readInto(empty) is 0; EOF gives 0 and empty")
    func unbufferedRead() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let file = try a.makeSocketIO(mode: "rb")
            defer { file.close() }
            try await b.sendAll(bytes("abc"))
            #expect(try await file.read(100) == bytes("abc"))

            try await b.sendAll(referenceMessage)
            let empty = UnsafeMutableRawBufferPointer.allocate(byteCount: 0, alignment: 1)
            defer { empty.deallocate() }
            #expect(try await file.readInto(empty) == 0)
            b.close()
            var rebuilt: [UInt8] = []
            while true {
                let byte = try #require(try await file.read(1))
                if byte.isEmpty { break }
                #expect(byte.count == 1)
                rebuilt += byte
            }
            #expect(rebuilt == referenceMessage)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 1)
            defer { buffer.deallocate() }
            #expect(try await file.readInto(buffer) == 0)
            #expect(try await file.readInto(empty) == 0)
            #expect(try await file.read() == [])
            #expect(try await file.readAll() == [])
            #expect(try await file.readLine() == [])
        }
    }

    @Test("CPY-18 non-blocking raw: no data gives nil from readInto, read(5), readAll; 3 bytes then would-block gives them")
    func nonBlockingRawReads() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(.nonBlocking)
            let file = try a.makeSocketIO(mode: "rb")
            defer { file.close() }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 10, alignment: 1)
            defer { buffer.deallocate() }
            #expect(try await file.readInto(buffer) == nil)
            #expect(try await file.read(5) == nil)
            #expect(try await file.readAll() == nil)
            #expect(try await file.read() == nil)
            try await b.sendAll(bytes("xyz"))
            #expect(try await file.readAll() == bytes("xyz"))
            #expect(try await file.readAll() == nil)
            #expect(file.timeoutOccurred == false)
            // No latch for would-block: reads go on working.
            try await b.sendAll(bytes("more"))
            #expect(try await file.read(10) == bytes("more"))
        }
    }

    @Test("CPY-19 non-blocking raw write: first returns > 0, eventually nil once the socket buffer is full")
    func nonBlockingRawWrite() async throws {
        try await onHub(limit: .seconds(20)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(.nonBlocking)
            let file = try a.makeSocketIO(mode: "wb")
            defer { file.close() }
            let chunk = [UInt8](repeating: 0x61, count: 65536)
            let first = try #require(try await file.write(chunk))
            #expect(first > 0)
            var total = first
            var sawNil = false
            for _ in 0..<10_000 {
                guard let count = try await file.write(chunk) else {
                    sawNil = true
                    break
                }
                #expect(count > 0)
                total += count
            }
            #expect(sawNil)
            // Everything reported as written arrives.
            try b.setTimeout(.nonBlocking)
            var received = 0
            while received < total {
                received += try await b.recv(65536).count
            }
            #expect(received == total)
        }
    }

    @Test("CPY-20 timeout latch: readInto times out with \"timed out\"; later reads fail even with data available")
    func timeoutLatch() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(seconds: 0.05)
            let file = try a.makeSocketIO(mode: "rwb")
            defer { file.close() }
            #expect(file.timeoutPolicy == .latch)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 10, alignment: 1)
            defer { buffer.deallocate() }
            let error = await expectIOError(.timedOut, message: "timed out") { try await file.readInto(buffer) }
            #expect(error?.errno == nil)
            #expect(file.timeoutOccurred)
            try await b.sendAll(bytes("data\n"))
            let latched = "cannot read from timed out object"
            await expectIOError(.timedOutObject, message: latched) { try await file.readInto(buffer) }
            await expectIOError(.timedOutObject, message: latched) { try await file.read(1) }
            await expectIOError(.timedOutObject, message: latched) { try await file.readLine() }
            await expectIOError(.timedOutObject, message: latched) { try await file.readAll() }
            // The latch did not touch the socket: the data is still there.
            #expect(try await a.recv(10) == bytes("data\n"))
        }
    }

    @Test("CPY-20 resumable policy: after a timeout the next read continues and gets the data")
    func resumablePolicy() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(seconds: 0.05)
            let file = try a.makeSocketIO(mode: "rb")
            defer { file.close() }
            file.timeoutPolicy = .resumable
            await expectIOError(.timedOut) { try await file.readLine() }
            #expect(file.timeoutOccurred)
            try await b.sendAll(bytes("line\n"))
            #expect(try await file.readLine() == bytes("line\n"))
            await expectIOError(.timedOut) { try await file.read(1) }
        }
    }

    @Test("CPY-20 resumable policy: a timed-out raw read consumes nothing; a raw readLine drops its partial line, as in CPython")
    func resumableRawLoss() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(seconds: 0.05)
            let file = try a.makeSocketIO(mode: "rb")
            defer { file.close() }
            file.timeoutPolicy = .resumable
            await expectIOError(.timedOut) { try await file.read(10) }
            try await b.sendAll(bytes("abc"))
            #expect(try await file.read(10) == bytes("abc"))
            // readLine gathers "def" byte by byte, then times out waiting for the rest: those bytes
            // are gone (the buffered layer is the one that keeps them).
            try await b.sendAll(bytes("def"))
            await expectIOError(.timedOut) { try await file.readLine() }
            try await b.sendAll(bytes("ghi\n"))
            #expect(try await file.readLine() == bytes("ghi\n"))
        }
    }

    @Test("CPY-21 latch scope: socket recv and a fresh makeSocketIO read the pending data; writes through the latched raw work")
    func latchScope() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(seconds: 0.05)
            let latched = try a.makeSocketIO(mode: "rwb")
            defer { latched.close() }
            await expectIOError(.timedOut) { try await latched.read(1) }
            try await b.sendAll(bytes("first second"))
            #expect(try await a.recv(6) == bytes("first "))
            let fresh = try a.makeSocketIO(mode: "rb")
            defer { fresh.close() }
            #expect(try await fresh.read(100) == bytes("second"))
            #expect(try await latched.write(bytes("ok")) == 2)
            #expect(try await b.recv(10) == bytes("ok"))
        }
    }

    @Test("CPY-22 unbuffered readline: one raw object reads the first line, a new raw object the second")
    func unbufferedReadline() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try await b.sendAll(bytes("A. ") + referenceMessage + bytes("B. ") + referenceMessage)
            let first = try a.makeSocketIO(mode: "rb")
            #expect(try await first.readLine() == bytes("A. ") + referenceMessage)
            first.close()
            let second = try a.makeSocketIO(mode: "rb")
            #expect(try await second.readLine() == bytes("B. ") + referenceMessage)
            second.close()
        }
    }

    @Test("CPY-22 readLine(limit:) stops at the limit and leaves the rest; limit 0 reads nothing")
    func readLineLimit() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let file = try a.makeSocketIO(mode: "rb")
            defer { file.close() }
            try await b.sendAll(bytes("abcdefghij\n"))
            #expect(try await file.readLine(limit: 0) == [])
            #expect(try await file.readLine(limit: 4) == bytes("abcd"))
            #expect(try await file.readLine(limit: 4) == bytes("efgh"))
            #expect(try await file.readLine(limit: 4) == bytes("ij\n"))
        }
    }

    @Test("CPY-23 non-blocking raw readLine returns the partial line, or nil when nothing is there (deliberate difference)")
    func nonBlockingReadLine() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(.nonBlocking)
            let file = try a.makeSocketIO(mode: "rb")
            defer { file.close() }
            #expect(try await file.readLine() == nil)
            try await b.sendAll(bytes("partial"))
            #expect(try await file.readLine() == bytes("partial"))
            #expect(try await file.readLine() == nil)
            try await b.sendAll(bytes("rest\nnext"))
            #expect(try await file.readLine() == bytes("rest\n"))
            #expect(try await file.readLine() == bytes("next"))
            b.close()
            try await waitUntilReadableByPoll(a)
            #expect(try await file.readLine() == [])
        }
    }

    @Test("CPY-24 peer reset (SO_LINGER 0): the blocked read throws ECONNRESET, the next read is EOF; not latched")
    func peerReset() async throws {
        try await onHub(limit: .seconds(10)) {
            let (client, server) = try await tcpPair()
            defer { client.close(); server.close() }
            let file = try client.makeSocketIO(mode: "rb")
            defer { file.close() }
            let reader = Hub.current!.spawn { () async throws -> IOError? in
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 10, alignment: 1)
                defer { buffer.deallocate() }
                return await expectIOError(.system, errno: ECONNRESET) { try await file.readInto(buffer) }
            }
            #expect(try await yieldUntil { parkedWaiters == 1 })
            try server.setLinger(seconds: 0)
            server.close()
            let error = try await reader.value
            #expect(error?.errno == .connectionReset)
            #expect(file.timeoutOccurred == false)
            #expect(try await file.read(10) == [])
            #expect(try await file.read(10) == [])
        }
    }

    @Test("CPY-25 peer closed: a write may succeed once, a later write fails with EPIPE (never hangs)")
    func brokenPipe() async throws {
        try await onHub(limit: .seconds(10)) {
            let (client, server) = try await tcpPair()
            defer { client.close(); server.close() }
            let file = try client.makeSocketIO(mode: "rwb")
            defer { file.close() }
            server.close()
            #expect(try await file.read(10) == [])  // the peer's FIN has arrived
            #expect(try await file.write(bytes("abc")) == 3)
            var failure: IOError?
            for _ in 0..<1000 {
                do {
                    _ = try await file.write(bytes("abc"))
                    try await Hub.yield()
                } catch let error as IOError {
                    failure = error
                    break
                }
            }
            let error = try #require(failure)
            #expect(error.kind == .system)
            #expect(error.errno == .brokenPipe)
            await expectIOError(.system, errno: EPIPE) { try await file.write(bytes("abc")) }
        }
    }

    @Test("EVT-01 a line split across writes: readLine waits cooperatively and returns the whole line")
    func lineSplitAcrossWrites() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let file = try a.makeSocketIO(mode: "rb")
            defer { file.close() }
            let writer = Hub.current!.spawn { () async throws -> Bool in
                try await b.sendAll(bytes("hel"))
                // The reader has consumed "hel" and is parked: this green thread runs meanwhile.
                let readerParked = try await yieldUntil { parkedWaiters == 1 }
                try await b.sendAll(bytes("lo\n"))
                return readerParked
            }
            #expect(try await file.readLine() == bytes("hello\n"))
            #expect(try await writer.value)
        }
    }

    @Test("EVT-06 EOF mid-line: readLine returns the partial line, then empty")
    func eofMidLine() async throws {
        try await onHub(limit: .seconds(10)) {
            let (client, server) = try await tcpPair()
            defer { client.close(); server.close() }
            let file = try client.makeSocketIO(mode: "rb")
            defer { file.close() }
            try await server.sendAll(bytes("partial"))
            server.close()
            #expect(try await file.readLine() == bytes("partial"))
            #expect(try await file.readLine() == [])
            #expect(try await file.readLine() == [])
        }
    }

    @Test("EVT-07 stale readiness: a blocking raw read woken with nothing to read goes back to waiting")
    func staleReadiness() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let file = try a.makeSocketIO(mode: "rb")
            defer { file.close() }
            // Readiness is recorded while nobody waits, then the bytes are taken without waiting.
            try await b.sendAll(bytes("taken"))
            #expect(try await yieldUntil { a.registration?.readReady == true })
            #expect(try await a.recv(10) == bytes("taken"))
            let reader = Hub.current!.spawn { () async throws -> Int? in
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 10, alignment: 1)
                defer { buffer.deallocate() }
                let count = try await file.readInto(buffer)
                #expect(Array(buffer[..<(count ?? 0)]) == bytes("real"))
                return count
            }
            // The reader's first wait returns at once (the stale readiness); it must wait again.
            #expect(try await yieldUntil { parkedWaiters == 1 })
            for _ in 0..<10 { try await Hub.yield() }
            #expect(parkedWaiters == 1)
            try await b.sendAll(bytes("real"))
            #expect(try await reader.value == 4)
        }
    }

    @Test("EVT-07 data stolen by another green thread: the blocked reader keeps waiting, never returns empty")
    func stolenData() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(seconds: 5)
            let reader = Hub.current!.spawn { try await a.recv(10) }
            #expect(try await yieldUntil { parkedWaiters == 1 })
            try await b.sendAll(bytes("stolen"))
            // Taken before the reader runs again (no wait needed: the bytes are there).
            #expect(try await a.recv(10) == bytes("stolen"))
            for _ in 0..<10 { try await Hub.yield() }
            #expect(parkedWaiters == 1)
            try await b.sendAll(bytes("real"))
            #expect(try await reader.value == bytes("real"))
        }
    }
}
