import Glibc
import Testing
@testable import GreenIO

/// CPY-37 … CPY-42 and EVT-12: buffered reads over a non-blocking socket. GreenIO's rule at every
/// entry point: nil means "would block", empty means the end of the stream, and a partial line
/// stays buffered (CPython returns `b''` or the partial line).
@Suite("Buffered reads, non-blocking", .timeLimit(.minutes(1)))
struct BufferedNonBlockingTests {
    @Test("CPY-37 no data: buffered read(n), read() and readInto give nil — for the reader and the rwb pair")
    func noDataNil() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setBlocking(false)
            let reader = try #require(try a.makefile("rb").reader)
            let pair = try #require(try a.makefile("rwb", buffering: 4).pair)
            defer { reader.close() }
            let buffer = scratch(10)
            defer { buffer.deallocate() }
            #expect(try await reader.read(5) == nil)
            #expect(try await reader.read() == nil)
            #expect(try await reader.readInto(buffer) == nil)
            #expect(try await pair.read(5) == nil)
            #expect(try await pair.read() == nil)
            #expect(try await pair.readInto(buffer) == nil)
            #expect(reader.raw.timeoutOccurred == false)
            try await pair.close()
        }
    }

    @Test("CPY-38 no data: read1, readInto1, peek, readLine, readLine(maxLength:), read(until:), readLines give nil and lines throws wouldBlock; at EOF all are empty")
    func noDataIsNotEOF() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(.nonBlocking)
            let reader = try a.makeReader()
            defer { reader.close() }
            let buffer = scratch(10)
            defer { buffer.deallocate() }
            #expect(try await reader.read1(5) == nil)
            #expect(try await reader.read1() == nil)
            #expect(try await reader.readInto1(buffer) == nil)
            #expect(try await reader.peek() == nil)
            #expect(try await reader.readLine() == nil)
            #expect(try await reader.readLine(limit: 3) == nil)
            #expect(try await reader.readLine(maxLength: 3) == nil)
            #expect(try await reader.read(until: [13, 10]) == nil)
            #expect(try await reader.readLines() == nil)
            #expect(try await reader.readLines(hint: 1) == nil)
            await expectIOError(.wouldBlock) {
                for try await line in reader.lines { Issue.record("unexpected line \(line)") }
            }
            b.close()
            try await waitUntilReadableByPoll(a)
            #expect(try await reader.read1(5) == [])
            #expect(try await reader.readInto1(buffer) == 0)
            #expect(try await reader.peek() == [])
            #expect(try await reader.readLine() == [])
            #expect(try await reader.read(until: [13, 10]) == [])
            #expect(try await reader.readLines() == [])
            #expect(try await reader.read() == [])
            #expect(try await reader.read(3) == [])
            #expect(try await reader.readInto(buffer) == 0)
            var count = 0
            for try await _ in reader.lines { count += 1 }
            #expect(count == 0)
        }
    }

    @Test("CPY-39 partial data then would-block: read(5) with 2 bytes gives them; readInto(5 bytes) gives 2")
    func partialData() async throws {
        try await onHub(limit: .seconds(10)) {
            for size in [defaultBufferSize, 1] {
                let (a, b) = try Socket.pair()
                defer { a.close(); b.close() }
                try a.setTimeout(.nonBlocking)
                let reader = try a.makeReader(bufferSize: size)
                defer { reader.close() }
                try await b.sendAll(bytes("ab"))
                #expect(try await reader.read(5) == bytes("ab"), "buffer \(size)")
                try await b.sendAll(bytes("cd"))
                let buffer = scratch(5)
                defer { buffer.deallocate() }
                #expect(try await reader.readInto(buffer) == 2, "buffer \(size)")
                #expect(Array(buffer[..<2]) == bytes("cd"))
                try await b.sendAll(bytes("efg"))
                #expect(try await reader.read() == bytes("efg"), "buffer \(size)")
                #expect(try await reader.read() == nil)
            }
        }
    }

    @Test("CPY-40 partial line then would-block: nil and the partial line stays buffered; after the rest arrives the whole line comes back")
    func partialLineStays() async throws {
        try await onHub(limit: .seconds(10)) {
            for size in [defaultBufferSize, 1, 3] {
                let (a, b) = try Socket.pair()
                defer { a.close(); b.close() }
                try a.setTimeout(.nonBlocking)
                let reader = try a.makeReader(bufferSize: size)
                defer { reader.close() }
                try await b.sendAll(bytes("partial"))
                #expect(try await reader.readLine() == nil, "buffer \(size)")
                #expect(reader.bufferedByteCount == 7)
                #expect(try await reader.readLines() == nil)
                await expectIOError(.wouldBlock) {
                    for try await line in reader.lines { Issue.record("unexpected line \(line)") }
                }
                #expect(try await reader.read(until: bytes("-")) == nil)
                #expect(reader.bufferedByteCount == 7)
                try await b.sendAll(bytes("-line\nx\ny\nz"))
                #expect(try await reader.readLine() == bytes("partial-line\n"), "buffer \(size)")
                // Complete lines come back, the partial one stays.
                #expect(try await reader.readLines() == [bytes("x\n"), bytes("y\n")], "buffer \(size)")
                #expect(reader.bufferedByteCount == 1)
                #expect(try await reader.peek() == bytes("z"))
                try await b.sendAll(bytes("z\n"))
                var lines = reader.lines.makeAsyncIterator()
                #expect(try await lines.next() == bytes("zz\n"))
                // A limit that is reached is an answer, not a would-block.
                try await b.sendAll(bytes("abcdef"))
                #expect(try await reader.readLine(limit: 4) == bytes("abcd"))
                #expect(try await reader.readLine(limit: 4) == nil)
                #expect(try await reader.read(2) == bytes("ef"))
            }
        }
    }

    @Test("CPY-41 mock raw abc, d, nil, efg, nil, nil, nil: read(6)=abcd, read(1)=e, read()=fg, peek(1)=nil, read()=nil, then EOF read()=empty")
    func mockNonBlockingReads() async throws {
        try await onHub(limit: .seconds(10)) {
            let mock = MockRaw([.data(bytes("abc")), .data(bytes("d")), .wouldBlock, .data(bytes("efg")),
                                .wouldBlock, .wouldBlock, .wouldBlock], timeout: .nonBlocking)
            let reader = try BufferedReader(SocketIO(mock, mode: "rb"))
            #expect(try await reader.read(6) == bytes("abcd"))
            #expect(try await reader.read(1) == bytes("e"))
            #expect(try await reader.read() == bytes("fg"))
            #expect(try await reader.peek(1) == nil)
            #expect(try await reader.read() == nil)
            #expect(mock.script.isEmpty)
            #expect(try await reader.read() == [])

            // Raw readAll on a, nil, nil: a, then nil.
            let rawMock = MockRaw([.data(bytes("a")), .wouldBlock, .wouldBlock], timeout: .nonBlocking)
            let raw = try SocketIO(rawMock, mode: "rb")
            #expect(try await raw.readAll() == bytes("a"))
            #expect(try await raw.readAll() == nil)
            #expect(try await raw.readAll() == [])
        }
    }

    @Test("CPY-42 small non-blocking reads, buffering 0 and buffered: nil before MSG, read(len-3) + readInto = MSG, then nil again")
    func smallReadNonBlocking() async throws {
        try await onHub(limit: .seconds(10)) {
            for buffering in [0, -1, 4] {
                let (a, b) = try Socket.pair()
                defer { a.close(); b.close() }
                try a.setTimeout(.nonBlocking)
                let file = try a.makefile("rb", buffering: buffering)
                let ten = scratch(10)
                defer { ten.deallocate() }
                let sixteen = scratch(16)
                defer { sixteen.deallocate() }
                func read(_ n: Int) async throws -> [UInt8]? {
                    if let raw = file.raw { return try await raw.read(n) }
                    return try await file.reader!.read(n)
                }
                func readInto(_ buffer: UnsafeMutableRawBufferPointer) async throws -> Int? {
                    if let raw = file.raw { return try await raw.readInto(buffer) }
                    return try await file.reader!.readInto(buffer)
                }
                let head = referenceMessage.count - 3
                #expect(try await readInto(ten) == nil, "buffering \(buffering)")
                #expect(try await read(head) == nil, "buffering \(buffering)")
                try await b.sendAll(referenceMessage)
                let first = try #require(try await read(head))
                #expect(first.count == head)
                let n = try #require(try await readInto(ten))
                #expect(n == 3, "buffering \(buffering)")
                #expect(first + Array(ten[..<n]) == referenceMessage)
                #expect(try await readInto(sixteen) == nil, "buffering \(buffering)")
                #expect(try await read(1) == nil, "buffering \(buffering)")
                try await file.close()
            }
        }
    }

    @Test("EVT-12 timeout 0, no data: raw readInto is nil (not 0), buffered read(n) and readLine are nil")
    func nonBlockingNil() async throws {
        try await onHub(limit: .seconds(10)) {
            let (client, server) = try await tcpPair()
            defer { client.close(); server.close() }
            try client.setTimeout(seconds: 0)
            let raw = try client.makeSocketIO(mode: "rb")
            defer { raw.close() }
            let reader = try client.makeReader()
            defer { reader.close() }
            let buffer = scratch(8)
            defer { buffer.deallocate() }
            #expect(try await raw.readInto(buffer) == nil)
            #expect(try await reader.read(8) == nil)
            #expect(try await reader.readLine() == nil)
            try await server.sendAll(bytes("line\n"))
            // The data may take a moment over loopback TCP.
            var line: [UInt8]?
            for _ in 0..<1000 where line == nil {
                line = try await reader.readLine()
                if line == nil { try await Hub.sleep(for: .milliseconds(1)) }
            }
            #expect(line == bytes("line\n"))
        }
    }
}
