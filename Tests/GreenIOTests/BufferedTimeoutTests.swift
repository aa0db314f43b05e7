import Glibc
import Testing
@testable import GreenIO
import GreenIOTesting

/// CPY-44 … CPY-49 and EVT-21: timeouts through the buffered layer. GreenIO keeps every received
/// byte buffered on a timeout (CPython drops them); the latch is CPython's by default and
/// `.resumable` lets the next call continue.
@Suite("Buffered timeouts", .timeLimit(.minutes(1)))
struct BufferedTimeoutTests {
    @Test("CPY-44 read(3) gets 3 bytes, read(1) times out, the next read(1) hits the latch — unbuffered, default and small buffers")
    func readAfterTimeout() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            for buffering in [0, -1, 1, 2] {
                let (a, b) = try Socket.pair()
                defer { a.close(); b.close() }
                try a.setTimeout(seconds: 0.05)
                let file = try a.makefile("rb", buffering: buffering)
                func read(_ n: Int) async throws -> [UInt8]? {
                    if let raw = file.raw { return try await raw.read(n) }
                    return try await file.reader!.read(n)
                }
                try await b.sendAll(bytes("abc"))
                #expect(try await read(3) == bytes("abc"), "buffering \(buffering)")
                let error = await expectIOError(.timedOut, message: "timed out") { try await read(1) }
                #expect(error?.errno == nil)
                try await b.sendAll(bytes("def"))
                await expectIOError(.timedOutObject, message: "cannot read from timed out object") { try await read(1) }
                await expectIOError(.timedOutObject, message: "cannot read from timed out object") { try await read(1) }
                // The latch did not touch the socket.
                #expect(try await a.recv(10) == bytes("def"))
                try await file.close()
            }
        }
    }

    @Test("CPY-45 abc then a timeout inside readLine: abc stays buffered; the latch refuses readLine; a new file reads def\\n; .resumable returns abcdef\\n")
    func timeoutInsideReadLine() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(seconds: 0.05)
            let reader = try a.makeReader()
            defer { reader.close() }
            #expect(reader.timeoutPolicy == .latch)
            try await b.sendAll(bytes("abc"))
            await expectIOError(.timedOut, message: "timed out") { try await reader.readLine() }
            #expect(reader.bufferedByteCount == 3)
            // peek serves the buffer without a raw read (CPython's peek hits the latch: its buffer is empty).
            #expect(try await reader.peek() == bytes("abc"))
            try await b.sendAll(bytes("def\n"))
            // No complete line is buffered, so readLine must read raw: the latch refuses.
            await expectIOError(.timedOutObject, message: "cannot read from timed out object") { try await reader.readLine() }
            #expect(reader.bufferedByteCount == 3)
            // The latch is per file object: a new one reads the later bytes (abc is in the first one's buffer).
            let second = try a.makeReader()
            #expect(try await second.readLine() == bytes("def\n"))
            second.close()
            // Clearing the latch: the first reader continues with its bytes intact.
            reader.timeoutPolicy = .resumable
            try await b.sendAll(bytes("ghi\n"))
            #expect(try await reader.readLine() == bytes("abcghi\n"))

            // .resumable from the start.
            let (c, d) = try Socket.pair()
            defer { c.close(); d.close() }
            try c.setTimeout(seconds: 0.05)
            let resumable = try c.makeReader()
            defer { resumable.close() }
            resumable.timeoutPolicy = .resumable
            #expect(resumable.raw.timeoutPolicy == .resumable)
            try await d.sendAll(bytes("abc"))
            await expectIOError(.timedOut, message: "timed out") { try await resumable.readLine() }
            #expect(resumable.bufferedByteCount == 3)
            try await d.sendAll(bytes("def\n"))
            #expect(try await resumable.readLine() == bytes("abcdef\n"))
        }
    }

    @Test("CPY-46 no loss on timeout (resumable): read(10) with 2 bytes buffered, read(), buffer size 4 with 6 bytes, readInto, readLines")
    func noLossOnTimeout() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            func setUp(bufferSize: Int = defaultBufferSize) throws -> (Socket, Socket, BufferedReader) {
                let (a, b) = try Socket.pair()
                try a.setTimeout(seconds: 0.05)
                let reader = try a.makeReader(bufferSize: bufferSize)
                reader.timeoutPolicy = .resumable
                return (a, b, reader)
            }
            do {
                let (a, b, reader) = try setUp()
                defer { reader.close(); a.close(); b.close() }
                try await b.sendAll(bytes("abcd"))
                #expect(try await reader.read(2) == bytes("ab"))
                #expect(reader.bufferedByteCount == 2)
                await expectIOError(.timedOut) { try await reader.read(10) }
                #expect(reader.bufferedByteCount == 2)
                try await b.sendAll(bytes("efghijkl"))
                #expect(try await reader.read(10) == bytes("cdefghijkl"))
            }
            do {
                let (a, b, reader) = try setUp()
                defer { reader.close(); a.close(); b.close() }
                try await b.sendAll(bytes("xyz"))
                await expectIOError(.timedOut) { try await reader.read() }
                #expect(reader.bufferedByteCount == 3)
                try await b.sendAll(bytes("123"))
                b.close()
                #expect(try await reader.read() == bytes("xyz123"))
            }
            do {
                let (a, b, reader) = try setUp(bufferSize: 4)
                defer { reader.close(); a.close(); b.close() }
                try await b.sendAll(bytes("abcdef"))
                await expectIOError(.timedOut) { try await reader.readLine() }
                #expect(reader.bufferedByteCount == 6)
                await expectIOError(.timedOut) { try await reader.read(10) }
                #expect(reader.bufferedByteCount == 6)
                let buffer = scratch(10)
                defer { buffer.deallocate() }
                await expectIOError(.timedOut) { try await reader.readInto(buffer) }
                #expect(reader.bufferedByteCount == 6)
                try await b.sendAll(bytes("gh\n"))
                #expect(try await reader.readLine() == bytes("abcdefgh\n"))
                try await b.sendAll(bytes("0123"))
                await expectIOError(.timedOut) { try await reader.readInto(buffer) }
                try await b.sendAll(bytes("456789"))
                #expect(try await reader.readInto(buffer) == 10)
                #expect(Array(buffer) == bytes("0123456789"))
            }
            do {
                let (a, b, reader) = try setUp(bufferSize: 2)
                defer { reader.close(); a.close(); b.close() }
                try await b.sendAll(bytes("l1\nl2\npart"))
                await expectIOError(.timedOut) { try await reader.readLines() }
                #expect(reader.bufferedByteCount == 10)
                try await b.sendAll(bytes("ial\n"))
                b.close()
                #expect(try await reader.readLines() == [bytes("l1\n"), bytes("l2\n"), bytes("partial\n")])
            }
        }
    }

    @Test("CPY-46 no loss under the default latch either: the bytes stay buffered and are served before any raw read")
    func latchKeepsBytes() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(seconds: 0.05)
            let reader = try a.makeReader(bufferSize: 4)
            defer { reader.close() }
            try await b.sendAll(bytes("one\ntwo"))
            #expect(try await reader.readLine() == bytes("one\n"))
            await expectIOError(.timedOut) { try await reader.read(10) }
            #expect(reader.bufferedByteCount == 3)
            #expect(try await reader.read(3) == bytes("two"))
            await expectIOError(.timedOutObject) { try await reader.read(1) }
        }
    }

    @Test("CPY-47 two complete lines in one packet: two readLines succeed from the buffer, the third times out")
    func twoLinesThenTimeout() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(seconds: 0.05)
            let reader = try a.makeReader()
            defer { reader.close() }
            try await b.sendAll(bytes("first\nsecond\n"))
            #expect(try await reader.readLine() == bytes("first\n"))
            #expect(try await reader.readLine() == bytes("second\n"))
            await expectIOError(.timedOut, message: "timed out") { try await reader.readLine() }
        }
    }

    @Test("CPY-48 a timeout (or non-blocking mode) set after makefile governs the file's next read")
    func timeoutSetAfterMakefile() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let reader = try a.makeReader()
            defer { reader.close() }
            let other = try a.makeReader()
            defer { other.close() }
            try a.setTimeout(seconds: 0.05)
            await expectIOError(.timedOut, message: "timed out") { try await reader.read(1) }
            try a.setTimeout(.nonBlocking)
            #expect(try await other.read(1) == nil)
            #expect(try await other.readLine() == nil)
            try a.setTimeout(.blocking)
            try await b.sendAll(bytes("x\n"))
            #expect(try await other.readLine() == bytes("x\n"))
        }
    }

    @Test("CPY-49 a second buffered file cannot see bytes buffered in the first (it times out); the first still returns them")
    func secondFileCannotSeeBuffer() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(seconds: 0.05)
            let first = try #require(try a.makefile("rb").reader)
            defer { first.close() }
            try await b.sendAll(bytes("A. line\nB. line\n"))
            #expect(try await first.readLine() == bytes("A. line\n"))
            #expect(first.bufferedByteCount == 8)
            let second = try #require(try a.makefile("rb").reader)
            defer { second.close() }
            await expectIOError(.timedOut, message: "timed out") { try await second.readLine() }
            #expect(try await first.readLine() == bytes("B. line\n"))
        }
    }

    @Test("EVT-21 timeout latch in the file: after readLine times out the file refuses even with data; a new makefile reads it")
    func latchInFile() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tcpPair()
            defer { client.close(); server.close() }
            try client.setTimeout(seconds: 0.05)
            let file = try #require(try client.makefile("rb").reader)
            defer { file.close() }
            await expectIOError(.timedOut, message: "timed out") { try await file.readLine() }
            try await server.sendAll(bytes("data\n"))
            try client.setTimeout(seconds: 5)
            await expectIOError(.timedOutObject, message: "cannot read from timed out object") { try await file.readLine() }
            await expectIOError(.timedOutObject, message: "cannot read from timed out object") { try await file.read(1) }
            let fresh = try #require(try client.makefile("rb").reader)
            defer { fresh.close() }
            #expect(try await fresh.readLine() == bytes("data\n"))
        }
    }
}

/// Suites that measure durations: CPY-27 and deadlines, exact on virtual time (GreenIOTesting).
@Suite("Buffered timing", .serialized, .timeLimit(.minutes(1)))
struct BufferedTimingTests {
    /// Sends `ab`, `cd`, `ef` 0.2 s apart from a green thread.
    private static func trickle(_ peer: Socket) -> Task<Void, any Error> {
        Hub.current!.spawn {
            for piece in ["ab", "cd", "ef"] {
                try await peer.sendAll(bytes(piece))
                if piece != "ef" { try await Hub.sleep(for: .milliseconds(200)) }
            }
        }
    }

    @Test("CPY-27 2+2+2 bytes 0.2 s apart: read(6) and readInto(6) wait for all six (~0.4 s); read1(6) and readInto1 return the first 2")
    func readWaitsRead1DoesNot() async throws {
        try await VirtualTime.run(limit: .seconds(30)) { time in
            for variant in ["read", "readInto", "read1", "readInto1"] {
                let (a, b) = try Socket.pair()
                defer { a.close(); b.close() }
                let reader = try a.makeReader()
                defer { reader.close() }
                let start = time.elapsed
                let sender = BufferedTimingTests.trickle(b)
                let buffer = scratch(6)
                defer { buffer.deallocate() }
                var got: [UInt8]
                switch variant {
                case "read": got = try #require(try await reader.read(6))
                case "read1": got = try #require(try await reader.read1(6))
                case "readInto": got = Array(buffer[..<(try #require(try await reader.readInto(buffer)))])
                default: got = Array(buffer[..<(try #require(try await reader.readInto1(buffer)))])
                }
                let elapsed = time.elapsed - start
                if variant.hasSuffix("1") {
                    #expect(got == bytes("ab"), "\(variant)")
                    #expect(try await reader.read(4) == bytes("cdef"), "\(variant)")
                } else {
                    #expect(got == bytes("abcdef"), "\(variant)")
                    #expect(elapsed == .milliseconds(400), "\(variant) elapsed \(elapsed)")
                }
                try await sender.value
            }
        }
    }

    @Test("Deadline: readLine(deadline:) on a blocking socket times out at the deadline; the bytes stay buffered and the line completes later")
    func readLineDeadline() async throws {
        try await VirtualTime.run(limit: .seconds(30)) { time in
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let reader = try a.makeReader()
            defer { reader.close() }
            reader.timeoutPolicy = .resumable
            try await b.sendAll(bytes("abc"))
            let start = time.elapsed
            await expectIOError(.timedOut) { try await reader.readLine(deadline: .after(.milliseconds(200))) }
            let elapsed = time.elapsed - start
            #expect(elapsed == .milliseconds(200), "elapsed \(elapsed)")
            #expect(reader.bufferedByteCount == 3)
            try await b.sendAll(bytes("def\n"))
            #expect(try await reader.readLine() == bytes("abcdef\n"))

            // A deadline earlier than the socket's timeout wins.
            try a.setTimeout(seconds: 5)
            let early = time.elapsed
            await expectIOError(.timedOut) { try await reader.read(10, deadline: .after(.milliseconds(100))) }
            let waited = time.elapsed - early
            #expect(waited == .milliseconds(100), "elapsed \(waited)")
        }
    }

    @Test("Deadline: one budget for the whole readLine across many raw reads that each succeed within the socket timeout")
    func deadlineAcrossRawReads() async throws {
        try await VirtualTime.run(limit: .seconds(30)) { time in
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            // Each raw read waits at most 2 s and gets a byte within 50 ms: without the deadline the
            // line would complete after about 0.8 s.
            try a.setTimeout(seconds: 2)
            let reader = try a.makeReader(bufferSize: 2)
            defer { reader.close() }
            reader.timeoutPolicy = .resumable
            let sender = Hub.current!.spawn {
                for _ in 0..<16 {
                    try await b.sendAll(bytes("x"))
                    try await Hub.sleep(for: .milliseconds(50))
                }
                try await b.sendAll(bytes("\n"))
            }
            let start = time.elapsed
            await expectIOError(.timedOut) { try await reader.readLine(deadline: .after(.milliseconds(400))) }
            let elapsed = time.elapsed - start
            #expect(elapsed == .milliseconds(400), "elapsed \(elapsed)")
            #expect(reader.bufferedByteCount >= 1)
            try await sender.value
            #expect(try await reader.readLine() == [UInt8](repeating: UInt8(ascii: "x"), count: 16) + bytes("\n"))
        }
    }
}

@Suite("Buffered deadlines and the latch", .timeLimit(.minutes(1)))
struct BufferedDeadlineLatchTests {
    @Test("an expired deadline does not set the latch; the socket's own timeout does")
    func deadlineDoesNotLatch() async throws {
        let (afterDeadline, afterTimeout, kind) = try await VirtualTime.run(limit: .seconds(20)) { time in
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let reader = try a.makeReader()
            defer { reader.close() }
            #expect(reader.timeoutPolicy == .latch)
            try await b.sendAll(bytes("abc"))
            await expectIOError(.timedOut) { try await reader.readLine(deadline: .after(.milliseconds(50))) }
            try await b.sendAll(bytes("def\n"))
            let afterDeadline = try await reader.readLine(deadline: .after(.seconds(5)))
            // Now the socket's timeout: CPython's latch applies.
            try a.setTimeout(seconds: 0.05)
            await expectIOError(.timedOut) { try await reader.readLine() }
            try await b.sendAll(bytes("ghi\n"))
            var kind: IOError.Kind?
            do { _ = try await reader.readLine() } catch let error as IOError { kind = error.kind }
            return (afterDeadline, reader.bufferedByteCount, kind)
        }
        #expect(afterDeadline == bytes("abcdef\n"))
        #expect(afterTimeout == 0)
        #expect(kind == .timedOutObject)
    }

    @Test("readLine(maxLength:) rejects a non-positive limit instead of returning an empty line")
    func nonPositiveMaxLength() async throws {
        try await VirtualTime.run(limit: .seconds(10)) { time in
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let reader = try a.makeReader()
            defer { reader.close() }
            try await b.sendAll(bytes("x\n"))
            await expectIOError(.invalidArgument, message: "maxLength must be positive") { try await reader.readLine(maxLength: 0) }
            #expect(try await reader.readLine(maxLength: 2) == bytes("x\n"))
        }
    }
}
