import Glibc
import Testing
@testable import GreenIO

/// A body's failure, for the tests that check that a throwing body consumes nothing.
private struct BodyFailed: Error {}

/// `BufferedReader.withLine` / `withCompleteLines`: lines lent in place (Go's `ReadSlice`), with
/// `readLine(maxLength:)`'s strict length rule, nil only for would-block and an empty lend at the
/// end of the stream.
@Suite("Buffered borrowed lines", .timeLimit(.minutes(1)))
struct BufferedBorrowedTests {
    @Test("withCompleteLines lends the lines that came in one read as one run, without another raw read; the partial line waits")
    func severalLinesOneRun() async throws {
        try await onHub(limit: .seconds(10)) {
            let mock = MockRaw(chunks: "a\nbb\nccc\npart", "ial\n")
            let reader = try BufferedReader(SocketIO(mock, mode: "rb"), bufferSize: 64)
            let run = try await reader.withCompleteLines(maxLength: 16) { Array($0) }
            #expect(run == bytes("a\nbb\nccc\n"))
            #expect(mock.readCalls == 1)
            #expect(reader.bufferedByteCount == 4)
            // The partial line was searched once already; the next call reads on from its end.
            #expect(reader.buffer.newlineFreeCount == 4)
            #expect(try await reader.withCompleteLines(maxLength: 16) { Array($0) } == bytes("partial\n"))
            #expect(mock.readCalls == 2)
            // End of stream: the body sees an empty buffer, every time.
            #expect(try await reader.withCompleteLines(maxLength: 16) { $0.count } == 0)
            #expect(try await reader.withCompleteLines(maxLength: 16) { $0.count } == 0)
        }
    }

    @Test("withCompleteLines with a line count: the run's lines as the search found them, 1 for a final unterminated line, 0 at the end; the reader is busy inside and free after a throw")
    func lineCount() async throws {
        try await onHub(limit: .seconds(10)) {
            let mock = MockRaw(chunks: "a\nbb\n\nccc\npart", "ial\nlast")
            let reader = try BufferedReader(SocketIO(mock, mode: "rb"), bufferSize: 64)
            let first = try await reader.withCompleteLines(maxLength: 16) { lines, count in
                // Busy while the run is lent.
                await expectIOError(.busy) { try await reader.withLine(maxLength: 16) { _ in () } }
                return (Array(lines), count)
            }
            #expect(first?.0 == bytes("a\nbb\n\nccc\n"))
            #expect(first?.1 == 4)
            #expect(reader.bufferedByteCount == 4)
            await #expect(throws: BodyFailed.self) {
                try await reader.withCompleteLines(maxLength: 16) { _, _ -> Int in throw BodyFailed() }
            }
            let second = try await reader.withCompleteLines(maxLength: 16) { lines, count in (Array(lines), count) }
            #expect(second?.0 == bytes("partial\n"))
            #expect(second?.1 == 1)
            let last = try await reader.withCompleteLines(maxLength: 16) { lines, count in (Array(lines), count) }
            #expect(last?.0 == bytes("last"))
            #expect(last?.1 == 1)
            let end = try await reader.withCompleteLines(maxLength: 16) { lines, count in (lines.count, count) }
            #expect(end?.0 == 0)
            #expect(end?.1 == 0)
        }
    }

    @Test("withLine lends one line per call out of one read; the bytes lent are the buffer's, not a copy")
    func withLineOneAtATime() async throws {
        try await onHub(limit: .seconds(10)) {
            let mock = MockRaw(chunks: "a\nbb\nccc\n")
            let reader = try BufferedReader(SocketIO(mock, mode: "rb"), bufferSize: 64)
            var lines: [[UInt8]] = []
            while let line = try await reader.withLine(maxLength: 8, { Array($0) }), !line.isEmpty {
                lines.append(line)
            }
            #expect(lines == [bytes("a\n"), bytes("bb\n"), bytes("ccc\n")])
            #expect(mock.readCalls == 2)  // one read for the lines, one that found the end of the stream
            // The pointer is into the buffer: the same address the buffered bytes start at.
            let again = MockRaw(chunks: "x\ny\n")
            let second = try BufferedReader(SocketIO(again, mode: "rb"), bufferSize: 64)
            _ = try await second.withLine(maxLength: 8) { _ in () }
            let inPlace = try await second.withLine(maxLength: 8) { line in
                line.baseAddress != nil && line.baseAddress == second.buffer.bytes.baseAddress
            }
            #expect(inPlace == true)
            #expect(second.bufferedByteCount == 0)
        }
    }

    @Test("a line split over many 1-byte reads is lent whole once its \\n arrives (withLine and withCompleteLines)")
    func lineOverManyReads() async throws {
        try await onHub(limit: .seconds(10)) {
            let text = "hello, world\n"
            let mock = MockRaw(text.map { .data(bytes(String($0))) })
            let reader = try BufferedReader(SocketIO(mock, mode: "rb"), bufferSize: 4)
            #expect(try await reader.withLine(maxLength: 64) { Array($0) } == bytes(text))
            #expect(mock.readCalls == text.utf8.count)
            let pieces = MockRaw((text + text).map { .data(bytes(String($0))) })
            let lines = try BufferedReader(SocketIO(pieces, mode: "rb"), bufferSize: 4)
            #expect(try await lines.withCompleteLines(maxLength: 64) { Array($0) } == bytes(text))
            #expect(try await lines.withCompleteLines(maxLength: 64) { Array($0) } == bytes(text))
        }
    }

    @Test("a line longer than maxLength throws .lineTooLong and consumes nothing; the good lines before it are lent first")
    func overLongLine() async throws {
        try await onHub(limit: .seconds(10)) {
            let mock = MockRaw(chunks: "ab\ncd\nlonglong\nok\n")
            let reader = try BufferedReader(SocketIO(mock, mode: "rb"), bufferSize: 64)
            #expect(try await reader.withCompleteLines(maxLength: 5) { Array($0) } == bytes("ab\ncd\n"))
            await expectIOError(.lineTooLong, message: "line too long") {
                try await reader.withCompleteLines(maxLength: 5) { Array($0) }
            }
            await expectIOError(.lineTooLong, message: "line too long") {
                try await reader.withLine(maxLength: 5) { Array($0) }
            }
            #expect(reader.bufferedByteCount == 12)
            // A larger limit takes it; nothing was lost.
            #expect(try await reader.withLine(maxLength: 9) { Array($0) } == bytes("longlong\n"))
            #expect(try await reader.withLine(maxLength: 5) { Array($0) } == bytes("ok\n"))
        }
    }

    @Test("a pending partial line throws as soon as maxLength + 1 bytes without \\n are buffered; exactly maxLength then the end is a final line")
    func overLongPartialLine() async throws {
        try await onHub(limit: .seconds(10)) {
            let mock = MockRaw(chunks: "abc", "def")
            mock.blockWhenExhausted = true
            let reader = try BufferedReader(SocketIO(mock, mode: "rb"), bufferSize: 64)
            await expectIOError(.lineTooLong, message: "line too long") {
                try await reader.withLine(maxLength: 5) { Array($0) }
            }
            #expect(mock.readCalls == 2)
            #expect(reader.bufferedByteCount == 6)
            await expectIOError(.lineTooLong) { try await reader.withCompleteLines(maxLength: 5) { Array($0) } }
            #expect(mock.readCalls == 2)

            let exact = MockRaw(chunks: "abcde")
            let final = try BufferedReader(SocketIO(exact, mode: "rb"), bufferSize: 64)
            #expect(try await final.withCompleteLines(maxLength: 5) { Array($0) } == bytes("abcde"))
            #expect(try await final.withCompleteLines(maxLength: 5) { Array($0) } == [])
        }
    }

    @Test("maxLength <= 0 is an invalid argument; a closed reader says readline of closed file")
    func arguments() async throws {
        try await onHub(limit: .seconds(10)) {
            let reader = try BufferedReader(SocketIO(MockRaw(chunks: "x\n"), mode: "rb"))
            for maxLength in [0, -1] {
                await expectIOError(.invalidArgument, message: "maxLength must be positive") {
                    try await reader.withLine(maxLength: maxLength) { _ in () }
                }
                await expectIOError(.invalidArgument, message: "maxLength must be positive") {
                    try await reader.withCompleteLines(maxLength: maxLength) { _ in () }
                }
            }
            reader.close()
            await expectIOError(.invalidArgument, message: "readline of closed file") {
                try await reader.withLine(maxLength: 8) { _ in () }
            }
            await expectIOError(.invalidArgument, message: "readline of closed file") {
                try await reader.withCompleteLines(maxLength: 8) { _ in () }
            }
        }
    }

    @Test("a final unterminated line is lent as it is, then the body sees an empty buffer at every call")
    func finalLineThenEmpty() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close() }
            let reader = try a.makeReader()
            defer { reader.close() }
            try await b.sendAll(bytes("x\ny"))
            b.close()
            #expect(try await reader.withLine(maxLength: 8) { Array($0) } == bytes("x\n"))
            #expect(try await reader.withLine(maxLength: 8) { Array($0) } == bytes("y"))
            var calls = 0
            for _ in 0..<3 {
                #expect(try await reader.withLine(maxLength: 8) { calls += 1; return $0.count } == 0)
            }
            #expect(try await reader.withCompleteLines(maxLength: 8) { calls += 1; return $0.count } == 0)
            #expect(calls == 4)
            // Nothing is held at the end of the stream.
            #expect(reader.storageCapacity == 0)
        }
    }

    @Test("non-blocking: nil while no complete line is there, the partial line kept (and not searched again); then the whole line")
    func nonBlockingKeepsPartialLine() async throws {
        try await onHub(limit: .seconds(10)) {
            let mock = MockRaw([.data(bytes("par")), .wouldBlock, .wouldBlock, .data(bytes("tial\nnext"))], timeout: .nonBlocking)
            let reader = try BufferedReader(SocketIO(mock, mode: "rb"), bufferSize: 64)
            var called = false
            #expect(try await reader.withLine(maxLength: 16) { _ in called = true } == nil)
            #expect(try await reader.withCompleteLines(maxLength: 16) { _ in called = true } == nil)
            #expect(!called)
            #expect(reader.bufferedByteCount == 3)
            #expect(reader.buffer.newlineFreeCount == 3)
            #expect(try await reader.withCompleteLines(maxLength: 16) { Array($0) } == bytes("partial\n"))
            #expect(reader.bufferedByteCount == 4)

            // The same over a socket pair.
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(.nonBlocking)
            let file = try a.makeReader()
            defer { file.close() }
            #expect(try await file.withLine(maxLength: 16) { Array($0) } == nil)
            try await b.sendAll(bytes("half"))
            #expect(try await file.withLine(maxLength: 16) { Array($0) } == nil)
            #expect(file.bufferedByteCount == 4)
            try await b.sendAll(bytes(" a line\r\n"))
            #expect(try await file.withLine(maxLength: 16) { Array($0) } == bytes("half a line\r\n"))
        }
    }

    @Test("a body that throws consumes nothing: the next call lends the same bytes")
    func throwingBodyConsumesNothing() async throws {
        try await onHub(limit: .seconds(10)) {
            let mock = MockRaw(chunks: "one\ntwo\nthr")
            let reader = try BufferedReader(SocketIO(mock, mode: "rb"), bufferSize: 64)
            await #expect(throws: BodyFailed.self) {
                try await reader.withLine(maxLength: 8) { _ -> Int in throw BodyFailed() }
            }
            await #expect(throws: BodyFailed.self) {
                try await reader.withCompleteLines(maxLength: 8) { _ -> Int in throw BodyFailed() }
            }
            #expect(reader.bufferedByteCount == 11)
            #expect(try await reader.withCompleteLines(maxLength: 8) { Array($0) } == bytes("one\ntwo\n"))
            #expect(try await reader.read() == bytes("thr"))
        }
    }

    @Test("CRLF lines are lent with their \\r\\n")
    func crlf() async throws {
        try await onHub(limit: .seconds(10)) {
            let mock = MockRaw(chunks: "HELO x\r\nMAIL FROM:<a>\r\n", "QUIT\r\n")
            let reader = try BufferedReader(SocketIO(mock, mode: "rb"), bufferSize: 64)
            #expect(try await reader.withLine(maxLength: 32) { Array($0) } == bytes("HELO x\r\n"))
            #expect(try await reader.withLine(maxLength: 32) { Array($0) } == bytes("MAIL FROM:<a>\r\n"))
            #expect(try await reader.withCompleteLines(maxLength: 32) { Array($0) } == bytes("QUIT\r\n"))
            // maxLength counts the \r\n.
            let tight = try BufferedReader(SocketIO(MockRaw(chunks: "abc\r\n"), mode: "rb"), bufferSize: 64)
            await expectIOError(.lineTooLong) { try await tight.withLine(maxLength: 4) { Array($0) } }
            #expect(try await tight.withLine(maxLength: 5) { Array($0) } == bytes("abc\r\n"))
        }
    }

    @Test("a timeout keeps every received byte: the latch refuses, .resumable continues; a deadline does not latch")
    func timeoutKeepsBytes() async throws {
        try await onHub(limit: .seconds(20)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(seconds: 0.05)
            let reader = try a.makeReader()
            defer { reader.close() }
            try await b.sendAll(bytes("abc"))
            await expectIOError(.timedOut, message: "timed out") { try await reader.withLine(maxLength: 16) { Array($0) } }
            #expect(reader.bufferedByteCount == 3)
            try await b.sendAll(bytes("def\n"))
            await expectIOError(.timedOutObject, message: "cannot read from timed out object") {
                try await reader.withCompleteLines(maxLength: 16) { Array($0) }
            }
            reader.timeoutPolicy = .resumable
            #expect(try await reader.withCompleteLines(maxLength: 16) { Array($0) } == bytes("abcdef\n"))

            // A caller's deadline: the same bytes kept, and no latch.
            let (c, d) = try Socket.pair()
            defer { c.close(); d.close() }
            let other = try c.makeReader()
            defer { other.close() }
            try await d.sendAll(bytes("gh"))
            await expectIOError(.timedOut) {
                try await other.withLine(maxLength: 16, deadline: .after(.milliseconds(50))) { Array($0) }
            }
            // Timing out while idle (nothing buffered: the wait before the read) does not latch either.
            #expect(try await other.read(2) == bytes("gh"))
            await expectIOError(.timedOut) {
                try await other.withLine(maxLength: 16, deadline: .after(.milliseconds(20))) { Array($0) }
            }
            #expect(other.raw.timeoutOccurred == false)
            try await d.sendAll(bytes("ij\n"))
            #expect(try await other.withLine(maxLength: 16) { Array($0) } == bytes("ij\n"))
        }
    }

    @Test("the reader is busy while it waits and while the body runs: another green thread (or the body) gets .busy")
    func busy() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let reader = try a.makeReader()
            defer { reader.close() }
            let first = Hub.current!.spawn { try await reader.withLine(maxLength: 16) { Array($0) } }
            #expect(try await yieldUntil { parkedWaiters == 1 })
            await expectIOError(.busy) { try await reader.withLine(maxLength: 16) { Array($0) } }
            await expectIOError(.busy) { try await reader.withCompleteLines(maxLength: 16) { Array($0) } }
            try await b.sendAll(bytes("line\nnext\n"))
            #expect(try await first.value == bytes("line\n"))

            let seen = try await reader.withCompleteLines(maxLength: 16) { run -> [UInt8] in
                let other = Hub.current!.spawn { try await reader.withLine(maxLength: 16) { Array($0) } }
                await expectIOError(.busy) { try await other.value }
                await expectIOError(.busy) { try await reader.readLine() }
                return Array(run)
            }
            #expect(seen == bytes("next\n"))
            #expect(reader.bufferedByteCount == 0)
        }
    }

    @Test("random lines in random chunkings: withCompleteLines and withLine give exactly readLine(maxLength:)'s lines")
    func randomChunkings() async throws {
        try await onHub(limit: .seconds(20)) {
            var random = SplitMix64(seed: 2024)
            for round in 0..<200 {
                var stream: [UInt8] = []
                for _ in 0..<Int(random.next() % 12) {
                    stream += [UInt8](repeating: UInt8(ascii: "a"), count: Int(random.next() % 9)) + [UInt8(ascii: "\n")]
                }
                if random.next() % 2 == 0 { stream += bytes("tail") }
                var steps: [MockRaw.Step] = []
                var offset = 0
                while offset < stream.count {
                    let n = Swift.min(stream.count - offset, 1 + Int(random.next() % 7))
                    steps.append(.data(Array(stream[offset..<(offset + n)])))
                    if random.next() % 4 == 0 { steps.append(.wouldBlock) }
                    offset += n
                }
                let bufferSize = 1 + Int(random.next() % 16)
                func lines(_ next: (BufferedReader) async throws -> [UInt8]?) async throws -> [UInt8] {
                    let reader = try BufferedReader(SocketIO(MockRaw(steps, timeout: .nonBlocking), mode: "rb"),
                                                    bufferSize: bufferSize)
                    var all: [UInt8] = []
                    for _ in 0..<1_000 {
                        guard let piece = try await next(reader) else { continue }
                        if piece.isEmpty { return all }
                        all += piece
                    }
                    Issue.record("no end of stream in round \(round)")
                    return all
                }
                let expected = try await lines { try await $0.readLine(maxLength: 10) }
                #expect(expected == stream, "round \(round)")
                #expect(try await lines { try await $0.withLine(maxLength: 10) { Array($0) } } == expected, "round \(round)")
                #expect(try await lines { try await $0.withCompleteLines(maxLength: 10) { Array($0) } } == expected,
                        "round \(round)")
            }
        }
    }
}

/// Idle memory: a reader waiting for input with nothing buffered, and a writer after a flush, hold
/// no buffer; first allocations are small unless the traffic is large.
@Suite("Buffered idle memory", .timeLimit(.minutes(1)))
struct BufferedIdleMemoryTests {
    @Test("a reader that consumed its line frees its buffer while it waits; small reads allocate small, a large first read makes the next allocation full size")
    func readerFreesWhileWaiting() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let reader = try a.makeReader()
            defer { reader.close() }
            #expect(reader.storageCapacity == 0)
            try await b.sendAll(bytes("one\n"))
            #expect(try await reader.withLine(maxLength: 64) { Array($0) } == bytes("one\n"))
            #expect(reader.storageCapacity == ReadBuffer.smallCapacity)

            let waiting = Hub.current!.spawn { try await reader.withLine(maxLength: 64) { Array($0) } }
            #expect(try await yieldUntil { parkedWaiters == 1 })
            #expect(reader.storageCapacity == 0)
            try await b.sendAll(bytes("two\n"))
            #expect(try await waiting.value == bytes("two\n"))

            // A first read of more than half the small size: the next allocation is bufferSize.
            let long = [UInt8](repeating: UInt8(ascii: "x"), count: 3_000) + [UInt8(ascii: "\n")]
            try await b.sendAll(long)
            #expect(try await reader.readLine(maxLength: 4_096) == long)
            try await b.sendAll(bytes("short\n"))
            #expect(try await reader.readLine() == bytes("short\n"))
            #expect(reader.storageCapacity == reader.bufferSize)
            // That first read was small again: back to small.
            try await b.sendAll(bytes("again\n"))
            #expect(try await reader.readLine() == bytes("again\n"))
            #expect(reader.storageCapacity == ReadBuffer.smallCapacity)

            // readLine and read(n) free the buffer the same way.
            let parked = Hub.current!.spawn { try await reader.read(3) }
            #expect(try await yieldUntil { parkedWaiters == 1 })
            #expect(reader.storageCapacity == 0)
            try await b.sendAll(bytes("abc"))
            #expect(try await parked.value == bytes("abc"))
        }
    }

    @Test("a non-blocking reader holds no buffer after a would-block with nothing buffered, nor at the end of the stream")
    func nonBlockingReaderHoldsNothing() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close() }
            try a.setTimeout(.nonBlocking)
            let reader = try a.makeReader()
            defer { reader.close() }
            #expect(try await reader.readLine() == nil)
            #expect(reader.storageCapacity == 0)
            try await b.sendAll(bytes("x\n"))
            #expect(try await reader.withLine(maxLength: 8) { Array($0) } == bytes("x\n"))
            #expect(try await reader.withLine(maxLength: 8) { Array($0) } == nil)
            #expect(reader.storageCapacity == 0)
            b.close()
            #expect(try await reader.withLine(maxLength: 8) { $0.count } == 0)
            #expect(reader.storageCapacity == 0)
        }
    }

    @Test("a TLS reader frees its buffer while it waits between lines")
    func tlsReaderFreesWhileWaiting() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tlsPair()
            defer { client.close(); server.close() }
            let reader = try server.makeReader()
            defer { reader.close() }
            try await tlsSendAll(client, bytes("one\ntwo\n"))
            #expect(try await reader.withCompleteLines(maxLength: 64) { Array($0) } == bytes("one\ntwo\n"))
            let waiting = Hub.current!.spawn { try await reader.withLine(maxLength: 64) { Array($0) } }
            #expect(try await yieldUntil { parkedWaiters == 1 })
            #expect(reader.storageCapacity == 0)
            try await tlsSendAll(client, bytes("three\r\n"))
            #expect(try await waiting.value == bytes("three\r\n"))
        }
    }

    @Test("a writer allocates small, grows up to bufferSize as writes need, frees its buffer on flush, and starts large after a large batch")
    func writerFreesOnFlush() async throws {
        try await onHub(limit: .seconds(10)) {
            let mock = MockRaw()
            let writer = try BufferedWriter(SocketIO(mock, mode: "wb"), bufferSize: 8_192)
            #expect(writer.storageCapacity == 0)
            #expect(try await writer.write(bytes("hello\n")) == 6)
            #expect(writer.storageCapacity == BufferedWriter.smallCapacity)
            try await writer.flush()
            #expect(writer.storageCapacity == 0)
            #expect(mock.popWritten() == bytes("hello\n"))

            // Writes that fit within bufferSize are still only buffered; the storage grows.
            let batch = pattern(from: 0, count: 3_000)
            for start in stride(from: 0, to: batch.count, by: 600) {
                #expect(try await writer.write(Array(batch[start..<(start + 600)])) == 600)
            }
            #expect(mock.writeCalls == 1)
            #expect(writer.bufferedByteCount == 3_000)
            #expect(writer.storageCapacity >= 3_000 && writer.storageCapacity <= 8_192)
            #expect(try await writer.write(pattern(from: 3_000, count: 5_192)) == 5_192)
            #expect(writer.bufferedByteCount == 8_192 && mock.writeCalls == 1)
            try await writer.flush()
            #expect(writer.storageCapacity == 0)
            #expect(mock.popWritten() == pattern(from: 0, count: 8_192))

            // After a large batch the next allocation is full size; after a small one, small again.
            _ = try await writer.write(bytes("a"))
            #expect(writer.storageCapacity == 8_192)
            try await writer.flush()
            _ = try await writer.write(bytes("b"))
            #expect(writer.storageCapacity == BufferedWriter.smallCapacity)
            // A write that does not fit drains first (freeing), sends the large part, buffers the tail.
            #expect(try await writer.write(pattern(from: 0, count: 20_000)) == 20_000)
            #expect(writer.bufferedByteCount <= 8_192)
            try await writer.close()
            #expect(writer.storageCapacity == 0)
            #expect(mock.popWritten() == bytes("ab") + pattern(from: 0, count: 20_000))
        }
    }

    @Test("a writer over a socket pair holds no buffer after each flushed reply")
    func writerOverSocket() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let pair = try a.makeReadWritePair()
            for n in 0..<5 {
                try await b.sendAll(bytes("ping \(n)\n"))
                let line = try #require(try await pair.reader.withLine(maxLength: 64) { Array($0) })
                try await pair.write(line)
                try await pair.flush()
                #expect(pair.writer.storageCapacity == 0)
                #expect(try await receive(line.count, from: b) == line)
            }
            try await pair.close()
        }
    }

    @Test("SocketIO.waitUntilReadable: returns once bytes are there without taking them; the socket's timeout latches, a deadline does not; closed and write-only objects refuse")
    func socketIOWaitUntilReadable() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let raw = try a.makeSocketIO(mode: "rb")
            let waiting = Hub.current!.spawn { try await raw.waitUntilReadable() }
            #expect(try await yieldUntil { parkedWaiters == 1 })
            try await b.sendAll(bytes("data"))
            try await waiting.value
            #expect(try await raw.read(10) == bytes("data"))

            await expectIOError(.timedOut) { try await raw.waitUntilReadable(deadline: .after(.milliseconds(20))) }
            #expect(!raw.timeoutOccurred)
            try a.setTimeout(seconds: 0.02)
            await expectIOError(.timedOut, message: "timed out") { try await raw.waitUntilReadable() }
            #expect(raw.timeoutOccurred)
            await expectIOError(.timedOutObject, message: "cannot read from timed out object") {
                try await raw.waitUntilReadable()
            }
            raw.timeoutPolicy = .resumable
            try await b.sendAll(bytes("x"))
            try await raw.waitUntilReadable()
            raw.close()
            await expectIOError(.invalidArgument, message: "I/O operation on closed file.") {
                try await raw.waitUntilReadable()
            }
            let writeOnly = try a.makeSocketIO(mode: "wb")
            defer { writeOnly.close() }
            await expectIOError(.unsupportedOperation, message: "File or stream is not readable.") {
                try await writeOnly.waitUntilReadable()
            }
        }
    }
}
