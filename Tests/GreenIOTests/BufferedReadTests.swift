import Glibc
import Testing
@testable import GreenIO

/// CPY-26, CPY-28 … CPY-36 (buffered reads in blocking mode), the strict line and read-until
/// primitives, and the buffered forms of EVT-01, EVT-06 … EVT-09, EVT-11.
@Suite("Buffered reads", .timeLimit(.minutes(1)))
struct BufferedReadTests {
    @Test("CPY-26 read(len-3) + read(3) == MSG; read() returns MSG after the writer closes; read(0) is empty; read(-2) is an error")
    func smallAndFullRead() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let reader = try #require(try a.makefile("rb").reader)
            defer { reader.close() }
            try await b.sendAll(referenceMessage)
            let first = try await reader.read(referenceMessage.count - 3)
            let second = try await reader.read(3)
            #expect(first.map { $0 + (second ?? []) } == referenceMessage)
            #expect(try await reader.read(0) == [])
            await expectIOError(.invalidArgument, message: "read length must be non-negative or -1") {
                try await reader.read(-2)
            }
            try await b.sendAll(referenceMessage)
            b.close()
            #expect(try await reader.read() == referenceMessage)
            #expect(try await reader.read() == [])
            #expect(try await reader.read(5) == [])
        }
    }

    @Test("CPY-28 read1 serves only buffered bytes when there are any; on an empty buffer read1(n > bufferSize) reads up to n at once")
    func read1ServesBuffer() async throws {
        try await onHub(limit: .seconds(10)) {
            let mock = MockRaw(chunks: "abcdefghijklmnopqrstuvwxyz")
            let reader = try BufferedReader(SocketIO(mock, mode: "rb"), bufferSize: 4)
            #expect(try await reader.read1(2) == bytes("ab"))
            #expect(mock.readCalls == 1 && mock.readSizes == [4])
            #expect(try await reader.read1(100) == bytes("cd"))
            #expect(mock.readCalls == 1)
            #expect(try await reader.read1(100) == bytes("efghijklmnopqrstuvwxyz"))
            #expect(mock.readCalls == 2)
            #expect(mock.readSizes[1] >= 100)
            #expect(try await reader.read1(-1) == [])

            // The same over a socket: 10 bytes waiting, a 4-byte buffer.
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let file = try a.makeReader(bufferSize: 4)
            defer { file.close() }
            try await b.sendAll(bytes("0123456789"))
            #expect(try await file.read1(2) == bytes("01"))
            #expect(file.bufferedByteCount == 2)
            #expect(try await file.read1(100) == bytes("23"))
            #expect(try await file.read1(100) == bytes("456789"))
            #expect(try await file.read1(0) == [])
        }
    }

    @Test("CPY-29 peek returns the buffered bytes without consuming, reads raw only when empty; read(1) then returns the first peeked byte")
    func peek() async throws {
        try await onHub(limit: .seconds(10)) {
            let mock = MockRaw(chunks: "abc", "def")
            let reader = try BufferedReader(SocketIO(mock, mode: "rb"))
            #expect(try await reader.peek() == bytes("abc"))
            #expect(mock.readCalls == 1)
            #expect(try await reader.peek(1) == bytes("abc"))
            #expect(try await reader.peek(100) == bytes("abc"))
            #expect(mock.readCalls == 1)
            #expect(try await reader.read(1) == bytes("a"))
            #expect(try await reader.peek() == bytes("bc"))
            #expect(mock.readCalls == 1)
            #expect(try await reader.read(2) == bytes("bc"))
            #expect(try await reader.peek() == bytes("def"))
            #expect(mock.readCalls == 2)
            #expect(try await reader.read() == bytes("def"))
            #expect(try await reader.peek() == [])
            #expect(try await reader.peek() == [])
        }
    }

    @Test("CPY-30 readline() == MSG with buffer sizes default, 1 and 2; a 20 000-byte line through a 16-byte buffer comes back whole")
    func readLineBufferSizes() async throws {
        try await onHub(limit: .seconds(10)) {
            for size in [defaultBufferSize, 1, 2] {
                let (a, b) = try Socket.pair()
                defer { a.close(); b.close() }
                let reader = try #require(try a.makefile("rb", buffering: size).reader)
                defer { reader.close() }
                try await b.sendAll(referenceMessage + bytes("B. ") + referenceMessage)
                #expect(try await reader.readLine() == referenceMessage, "buffer \(size)")
                #expect(try await reader.readLine() == bytes("B. ") + referenceMessage, "buffer \(size)")
                b.close()
                #expect(try await reader.readLine() == [], "buffer \(size)")
            }
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let reader = try a.makeReader(bufferSize: 16)
            defer { reader.close() }
            let long = [UInt8](repeating: UInt8(ascii: "x"), count: 19_999) + bytes("\n")
            let writer = Hub.current!.spawn {
                for start in stride(from: 0, to: long.count, by: 1000) {
                    try await b.sendAll(Array(long[start..<Swift.min(start + 1000, long.count)]))
                    try await Hub.yield()
                }
                try await b.sendAll(bytes("next\n"))
            }
            #expect(try await reader.readLine() == long)
            #expect(try await reader.readLine() == bytes("next\n"))
            try await writer.value
            #expect(reader.bufferedByteCount == 0)
        }
    }

    @Test("CPY-31 readline(limit): exactly limit bytes, the rest stays; readline(0) is empty; readline(10000) splits a 20 000-byte line")
    func readLineLimit() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let reader = try a.makeReader()
            defer { reader.close() }
            try await b.sendAll(bytes("abcdefghij\nnext\n"))
            #expect(try await reader.readLine(limit: 4) == bytes("abcd"))
            #expect(try await reader.readLine(limit: 4) == bytes("efgh"))
            #expect(try await reader.readLine(limit: 4) == bytes("ij\n"))
            #expect(try await reader.readLine(limit: 0) == [])
            #expect(reader.bufferedByteCount == 5)
            #expect(try await reader.readLine(limit: 5) == bytes("next\n"))
            let long = [UInt8](repeating: UInt8(ascii: "y"), count: 19_999) + bytes("\n")
            let writer = Hub.current!.spawn { try await b.sendAll(long) }
            let first = try await reader.readLine(limit: 10_000)
            #expect(first?.count == 10_000)
            #expect(first == Array(long[..<10_000]))
            #expect(try await reader.readLine() == Array(long[10_000...]))
            try await writer.value
        }
    }

    @Test("CPY-32 a partial last line at EOF comes back without terminator; then readline is empty for good")
    func partialLastLine() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let reader = try a.makeReader()
            defer { reader.close() }
            try await b.sendAll(bytes("first\nno newline at end"))
            b.close()
            #expect(try await reader.readLine() == bytes("first\n"))
            #expect(try await reader.readLine() == bytes("no newline at end"))
            #expect(try await reader.readLine() == [])
            #expect(try await reader.readLine() == [])
            #expect(try await reader.readLines() == [])
        }
    }

    @Test("CPY-33 readlines(hint) on abc\\nd\\nef\\ng: 1…3 → 1 line, 4…5 → 2, 6…8 → 3, 9, 0, -1, 100 and none → all 4")
    func readLinesHint() async throws {
        try await onHub(limit: .seconds(10)) {
            let all = [bytes("abc\n"), bytes("d\n"), bytes("ef\n"), bytes("g")]
            let expected: [(Int?, Int)] = [(1, 1), (2, 1), (3, 1), (4, 2), (5, 2), (6, 3), (7, 3), (8, 3),
                                           (9, 4), (0, 4), (-1, 4), (100, 4), (nil, 4)]
            for (hint, count) in expected {
                let reader = try BufferedReader(SocketIO(MockRaw(chunks: "abc\nd\nef\ng"), mode: "rb"))
                let lines: [[UInt8]]?
                if let hint { lines = try await reader.readLines(hint: hint) } else { lines = try await reader.readLines() }
                #expect(lines == Array(all[..<count]), "hint \(String(describing: hint))")
                // The lines not returned are still there.
                #expect(try await reader.readLines() == Array(all[count...]), "hint \(String(describing: hint))")
            }
        }
    }

    @Test("CPY-34 iteration yields readLine's lines and ends at EOF; next() twice then read() gives the remainder; readLine mixes with read")
    func iteration() async throws {
        try await onHub(limit: .seconds(10)) {
            let text = "one\ntwo\n\nfour\r\nlast"
            let expected = [bytes("one\n"), bytes("two\n"), bytes("\n"), bytes("four\r\n"), bytes("last")]
            var seen: [[UInt8]] = []
            let reader = try BufferedReader(SocketIO(MockRaw(chunks: "one\ntw", "o\n\nfo", "ur\r\nlast"), mode: "rb"),
                                            bufferSize: 4)
            for try await line in reader.lines { seen.append(line) }
            #expect(seen == expected)
            var iterator = reader.lines.makeAsyncIterator()
            #expect(try await iterator.next() == nil)

            let other = try BufferedReader(SocketIO(MockRaw(chunks: text), mode: "rb"))
            var lines = other.lines.makeAsyncIterator()
            #expect(try await lines.next() == bytes("one\n"))
            #expect(try await lines.next() == bytes("two\n"))
            #expect(try await other.read() == bytes("\nfour\r\nlast"))
            #expect(try await lines.next() == nil)

            // Over a socket, with a writer green thread: readLine, read(n) and the sequence interleave.
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let file = try a.makeReader(bufferSize: 8)
            defer { file.close() }
            let writer = Hub.current!.spawn {
                for piece in ["alpha\nbe", "ta\ngamma", "\ndelta\n", "epsilon\nzeta"] {
                    try await b.sendAll(bytes(piece))
                    try await Hub.yield()
                }
                b.close()
            }
            #expect(try await file.readLine() == bytes("alpha\n"))
            #expect(try await file.read(2) == bytes("be"))
            var sequence = file.lines.makeAsyncIterator()
            #expect(try await sequence.next() == bytes("ta\n"))
            #expect(try await file.readLine() == bytes("gamma\n"))
            #expect(try await file.read(3) == bytes("del"))
            var rest: [[UInt8]] = []
            for try await line in file.lines { rest.append(line) }
            #expect(rest == [bytes("ta\n"), bytes("epsilon\n"), bytes("zeta")])
            try await writer.value
        }
    }

    @Test("CPY-35 no extraneous raw read (bpo-9550): buffer 16, read(n) for n in 2, 15, 16, 17, 32 makes exactly one raw read")
    func noExtraneousRead() async throws {
        try await onHub(limit: .seconds(10)) {
            for n in [2, 15, 16, 17, 32] {
                let data = [UInt8](repeating: UInt8(ascii: "x"), count: n)
                let mock = MockRaw([.data(data)])
                let reader = try BufferedReader(SocketIO(mock, mode: "rb"), bufferSize: 16)
                #expect(try await reader.read(n) == data, "n \(n)")
                #expect(mock.readCalls == 1, "n \(n)")
                // The same for readInto.
                let other = MockRaw([.data(data)])
                let into = try BufferedReader(SocketIO(other, mode: "rb"), bufferSize: 16)
                let buffer = scratch(n)
                defer { buffer.deallocate() }
                #expect(try await into.readInto(buffer) == n, "n \(n)")
                #expect(Array(buffer) == data)
                #expect(other.readCalls == 1, "n \(n)")
            }
        }
    }

    @Test("CPY-36 mock chunks abc, d, efg: read(1), read1(1), read1(0), read1(100) and the raw-read counts 1, 1, 1, 1, 2, 3, 4")
    func read1RawReads() async throws {
        try await onHub(limit: .seconds(10)) {
            let mock = MockRaw(chunks: "abc", "d", "efg")
            let reader = try BufferedReader(SocketIO(mock, mode: "rb"))
            #expect(try await reader.read(1) == bytes("a"))
            #expect(mock.readCalls == 1)
            #expect(try await reader.read1(1) == bytes("b"))
            #expect(mock.readCalls == 1)
            #expect(try await reader.read1(0) == [])
            #expect(mock.readCalls == 1)
            #expect(try await reader.read1(100) == bytes("c"))
            #expect(mock.readCalls == 1)
            #expect(try await reader.read1(100) == bytes("d"))
            #expect(mock.readCalls == 2)
            #expect(try await reader.read1(100) == bytes("efg"))
            #expect(mock.readCalls == 3)
            #expect(try await reader.read1(100) == [])
            #expect(mock.readCalls == 4)
        }
    }

    @Test("readInto / readInto1: fill completely vs one raw read; a destination larger than the buffer is read into directly")
    func readIntoVariants() async throws {
        try await onHub(limit: .seconds(10)) {
            let mock = MockRaw(chunks: "abc", "defgh", "ijklmnopqrstuvwxyz")
            let reader = try BufferedReader(SocketIO(mock, mode: "rb"), bufferSize: 4)
            let small = scratch(2)
            defer { small.deallocate() }
            #expect(try await reader.readInto1(small) == 2)
            #expect(Array(small) == bytes("ab"))
            let six = scratch(6)
            defer { six.deallocate() }
            #expect(try await reader.readInto(six) == 6)
            #expect(Array(six) == bytes("cdefgh"))
            #expect(mock.readCalls == 2)
            let large = scratch(30)
            defer { large.deallocate() }
            #expect(try await reader.readInto1(large) == 18)
            #expect(Array(large[..<18]) == bytes("ijklmnopqrstuvwxyz"))
            #expect(mock.readSizes.last == 30)
            #expect(try await reader.readInto(large) == 0)
            #expect(try await reader.readInto1(large) == 0)
            let empty = scratch(0)
            defer { empty.deallocate() }
            #expect(try await reader.readInto(empty) == 0)
            #expect(try await reader.readInto1(empty) == 0)
        }
    }

    @Test("readLine(maxLength:) throws lineTooLong and consumes nothing; readLine(limit:) then gets the bytes; a fitting line passes")
    func strictLine() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let reader = try a.makeReader(bufferSize: 4)
            defer { reader.close() }
            try await b.sendAll(bytes("toolongline\nshort\n"))
            let error = await expectIOError(.lineTooLong, message: "line too long") { try await reader.readLine(maxLength: 5) }
            #expect(error != nil)
            #expect(reader.bufferedByteCount >= 5)
            await expectIOError(.lineTooLong) { try await reader.readLine(maxLength: 11) }
            #expect(try await reader.readLine(limit: 5) == bytes("toolo"))
            #expect(try await reader.readLine(maxLength: 7) == bytes("ngline\n"))
            // Exactly maxLength bytes, terminator included, is allowed.
            #expect(try await reader.readLine(maxLength: 6) == bytes("short\n"))
            // A strict read waits for more bytes while fewer than maxLength are there.
            let writer = Hub.current!.spawn {
                try await b.sendAll(bytes("ab"))
                _ = try await yieldUntil { parkedWaiters == 1 }
                try await b.sendAll(bytes("c\nlast"))
                b.close()
            }
            #expect(try await reader.readLine(maxLength: 4) == bytes("abc\n"))
            try await writer.value
            // A final unterminated line within the limit is returned at EOF; then empty.
            #expect(try await reader.readLine(maxLength: 4) == bytes("last"))
            #expect(try await reader.readLine(maxLength: 4) == [])
            // Exactly maxLength bytes and no terminator: one more byte decides.
            let longer = MockRaw(chunks: "abcd", "e\n")
            let strict = try BufferedReader(SocketIO(longer, mode: "rb"))
            await expectIOError(.lineTooLong) { try await strict.readLine(maxLength: 4) }
            #expect(strict.bufferedByteCount == 6)
            #expect(try await strict.readLine(maxLength: 6) == bytes("abcde\n"))
        }
    }

    @Test("read(until:): \\r\\n split across chunks, \\0, a 3-byte separator split over three chunks, overlapping prefixes, limit and strict")
    func readUntil() async throws {
        try await onHub(limit: .seconds(10)) {
            let crlf: [UInt8] = [13, 10]
            let smtp = try BufferedReader(SocketIO(MockRaw(chunks: "HELO x\r", "\nMAIL a\rb", " FROM\r", "\n", "QUIT"), mode: "rb"),
                                          bufferSize: 4)
            #expect(try await smtp.read(until: crlf) == bytes("HELO x\r\n"))
            #expect(try await smtp.read(until: crlf) == bytes("MAIL a\rb FROM\r\n"))
            #expect(try await smtp.read(until: crlf) == bytes("QUIT"))
            #expect(try await smtp.read(until: crlf) == [])

            let nul = try BufferedReader(SocketIO(MockRaw(chunks: "key\0val", "ue\0\0"), mode: "rb"))
            #expect(try await nul.read(until: [0]) == bytes("key\0"))
            #expect(try await nul.read(until: [0]) == bytes("value\0"))
            #expect(try await nul.read(until: [0]) == bytes("\0"))
            #expect(try await nul.read(until: [0]) == [])

            let three = try BufferedReader(SocketIO(MockRaw(chunks: "dataE", "N", "Dmore"), mode: "rb"), bufferSize: 2)
            #expect(try await three.read(until: bytes("END")) == bytes("dataEND"))
            #expect(try await three.read(until: bytes("END")) == bytes("more"))

            // A separator whose prefix repeats, split so that a naive rescan would miss it.
            let overlap = try BufferedReader(SocketIO(MockRaw(chunks: "xa", "a", "ab", "aab!"), mode: "rb"), bufferSize: 1)
            #expect(try await overlap.read(until: bytes("aab")) == bytes("xaaab"))
            #expect(try await overlap.read(until: bytes("aab")) == bytes("aab"))
            #expect(try await overlap.read(until: bytes("aab")) == bytes("!"))

            // Limits count the separator; non-strict returns exactly `limit` bytes, strict consumes nothing.
            let limited = try BufferedReader(SocketIO(MockRaw(chunks: "abcdefg\r", "\nabc\r\nabcd\r\n"), mode: "rb"))
            await expectIOError(.lineTooLong, message: "line too long") {
                try await limited.read(until: crlf, limit: 5, strict: true)
            }
            #expect(limited.bufferedByteCount == 8)
            #expect(try await limited.read(until: crlf, limit: 5) == bytes("abcde"))
            #expect(try await limited.read(until: crlf, limit: 5) == bytes("fg\r\n"))
            #expect(try await limited.read(until: crlf, limit: 5, strict: true) == bytes("abc\r\n"))
            // The separator would end past the limit: strict refuses, nothing consumed.
            await expectIOError(.lineTooLong) { try await limited.read(until: crlf, limit: 5, strict: true) }
            #expect(try await limited.read(until: crlf, limit: 6, strict: true) == bytes("abcd\r\n"))
            #expect(try await limited.read(until: crlf, limit: 0) == [])
            await expectIOError(.invalidArgument, message: "separator must not be empty") {
                try await limited.read(until: [])
            }
        }
    }

    @Test("EVT-01 a line split across writes: buffered readLine waits cooperatively and returns the whole line")
    func lineSplitAcrossWrites() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let reader = try #require(try a.makefile("rb").reader)
            defer { reader.close() }
            let writer = Hub.current!.spawn { () async throws -> Bool in
                try await b.sendAll(bytes("hel"))
                let readerParked = try await yieldUntil { parkedWaiters == 1 }
                try await Hub.sleep(for: .milliseconds(20))
                try await b.sendAll(bytes("lo\n"))
                return readerParked
            }
            #expect(try await reader.readLine() == bytes("hello\n"))
            #expect(try await writer.value)
        }
    }

    @Test("EVT-02 / EVT-03 buffered files outlive their sockets: a line goes through, then closed files and sockets refuse")
    func filesOutliveSockets() async throws {
        try await onHub(limit: .seconds(10)) {
            let (client, server) = try await tcpPair()
            defer { client.close(); server.close() }
            let out = try #require(try server.makefile("wb").writer)
            server.close()
            #expect(try await out.write(bytes("hello\n")) == 6)
            try await out.close()
            await expectIOError(.invalidArgument, message: "write to closed file") { try await out.write(bytes("x")) }
            await expectIOError(.system, errno: EBADF) { try await server.send(bytes("x")) }
            let input = try #require(try client.makefile("rb").reader)
            defer { input.close() }
            client.close()
            #expect(try await input.readLine() == bytes("hello\n"))
            #expect(try await input.read() == [])

            // EVT-03: the file closed first, the socket finishes the line.
            let (c2, s2) = try await tcpPair()
            defer { c2.close(); s2.close() }
            let writer = try s2.makeWriter()
            #expect(try await writer.write(bytes("hello")) == 5)
            try await writer.close()
            try await s2.sendAll(bytes("\n"))
            s2.close()
            let reader = try c2.makeReader()
            defer { reader.close() }
            #expect(try await reader.readLine() == bytes("hello\n"))
            #expect(try await reader.readLine() == [])
        }
    }

    @Test("EVT-04 / EVT-05 the last buffered file closes the fd; while it lives the peer sees no EOF")
    func lastReferenceCloses() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { b.close() }
            let writer = try a.makeWriter()
            a.close()
            #expect(try await writer.write(bytes("everything")) == 10)
            try await writer.flush()
            #expect(try await pendingBytes(b) == bytes("everything"))
            #expect(try await pendingBytes(b) == nil)
            try await writer.close()
            #expect(a.fileDescriptor == -1)
            #expect(try await receiveUntilEOF(b) == [])
        }
    }

    @Test("EVT-06 EOF mid-line: buffered readLine returns the partial line, then empty")
    func eofMidLine() async throws {
        try await onHub(limit: .seconds(10)) {
            let (client, server) = try await tcpPair()
            defer { client.close(); server.close() }
            let reader = try client.makeReader(bufferSize: 3)
            defer { reader.close() }
            try await server.sendAll(bytes("partial"))
            server.close()
            #expect(try await reader.readLine() == bytes("partial"))
            #expect(try await reader.readLine() == [])
            #expect(try await reader.read() == [])
        }
    }

    @Test("EVT-07 data stolen by another green thread: a blocked buffered readLine keeps waiting, never returns empty")
    func stolenData() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let reader = try a.makeReader()
            defer { reader.close() }
            let task = Hub.current!.spawn { try await reader.readLine() }
            #expect(try await yieldUntil { parkedWaiters == 1 })
            try await b.sendAll(bytes("stolen"))
            #expect(try await a.recv(10) == bytes("stolen"))
            for _ in 0..<10 { try await Hub.yield() }
            #expect(parkedWaiters == 1)
            try await b.sendAll(bytes("real\n"))
            #expect(try await task.value == bytes("real\n"))
        }
    }

    @Test("EVT-08 zero-length buffered reads return at once without a raw read; peek on an idle peer still honours the timeout")
    func zeroLengthReads() async throws {
        try await onHub(limit: .seconds(10)) {
            let mock = MockRaw(chunks: "data")
            let reader = try BufferedReader(SocketIO(mock, mode: "rb"))
            let empty = scratch(0)
            defer { empty.deallocate() }
            #expect(try await reader.read(0) == [])
            #expect(try await reader.read1(0) == [])
            #expect(try await reader.readLine(limit: 0) == [])
            #expect(try await reader.readInto(empty) == 0)
            #expect(try await reader.readInto1(empty) == 0)
            #expect(mock.readCalls == 0)

            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(seconds: 0.05)
            let file = try a.makeReader()
            defer { file.close() }
            await expectIOError(.timedOut, message: "timed out") { try await file.peek() }
        }
    }

    @Test("EVT-09 read returns the bytes, readInto the count of bytes stored")
    func returnTypes() async throws {
        try await onHub(limit: .seconds(10)) {
            let reader = try BufferedReader(SocketIO(MockRaw(chunks: "abcdef"), mode: "rb"))
            #expect(try await reader.read(2) == bytes("ab"))
            let buffer = scratch(8)
            defer { buffer.deallocate() }
            #expect(try await reader.readInto(buffer) == 4)
            #expect(Array(buffer[..<4]) == bytes("cdef"))
            #expect(Array(buffer[4...]) == [0, 0, 0, 0])
        }
    }

    @Test("EVT-11 a bad read length fails promptly, without a raw read or a wait")
    func badArgument() async throws {
        try await onHub(limit: .seconds(10)) {
            let mock = MockRaw()
            mock.blockWhenExhausted = true
            let reader = try BufferedReader(SocketIO(mock, mode: "rb"))
            for count in [-2, -3, Int.min] {
                await expectIOError(.invalidArgument, message: "read length must be non-negative or -1") {
                    try await reader.read(count)
                }
            }
            #expect(mock.readCalls == 0)
            // Over an idle blocking socket: no wait either.
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let file = try a.makeReader()
            defer { file.close() }
            await expectIOError(.invalidArgument) { try await file.read(-2) }
            await expectIOError(.invalidArgument) { try await file.read(-2, deadline: .after(.seconds(60))) }
        }
    }
}
