import Glibc
import Testing
@testable import GreenIO

/// CPY-01 … CPY-07 (binary and buffered parts), CPY-12, CPY-13 with buffered files: what `makefile`
/// returns, its attributes, and when the descriptor really closes.
@Suite("makefile and buffered file attributes", .timeLimit(.minutes(1)))
struct MakeFileTests {
    @Test("CPY-01 binary modes: makefile(mode).mode is rb, wb, rwb for the reader, writer, pair and raw object")
    func binaryModes() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let reader = try #require(try a.makefile("rb").reader)
            let writer = try #require(try a.makefile("wb").writer)
            let pair = try #require(try a.makefile("rwb").pair)
            #expect(reader.mode == "rb")
            #expect(writer.mode == "wb")
            #expect(pair.mode == "rwb")
            #expect(pair.reader.mode == "rwb")
            #expect(pair.writer.mode == "rwb")
            for mode in ["rb", "wb", "rwb"] {
                let raw = try #require(try a.makefile(mode, buffering: 0).raw)
                #expect(raw.mode == mode)
                raw.close()
            }
            reader.close()
            try await writer.close()
            try await pair.close()
            #expect(a.fileReferences == 0)
        }
    }

    @Test("CPY-02 invalid modes rt, x, +, a, r+ are rejected with \"invalid mode\" and take no reference")
    func invalidModes() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            for mode in ["rt", "x", "+", "a", "r+", "rbt", "wa"] {
                for buffering in [nil, 0, 1, -1] as [Int?] {
                    let error = await expectIOError(.invalidArgument) { try a.makefile(mode, buffering: buffering) }
                    #expect(error?.message == "invalid mode '\(mode)' (only r, w, b allowed)")
                }
            }
            #expect(a.fileReferences == 0)
        }
    }

    @Test("CPY-03 class table, binary: b, rb, br → reader; wb, bw → writer; rwb, wrb, rbw → pair; buffering 0 → raw rb/wb/rwb")
    func classTable() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            for mode in ["b", "rb", "br", "rrb"] {
                let file = try a.makefile(mode)
                let reader = try #require(file.reader, "\(mode)")
                #expect(file.writer == nil && file.pair == nil && file.raw == nil)
                #expect(reader.mode == "rb")
                #expect(reader.bufferSize == defaultBufferSize)
                try await file.close()
            }
            for mode in ["wb", "bw"] {
                let file = try a.makefile(mode)
                let writer = try #require(file.writer, "\(mode)")
                #expect(file.reader == nil && file.pair == nil && file.raw == nil)
                #expect(writer.mode == "wb")
                try await file.close()
            }
            for mode in ["rwb", "wrb", "rbw", "bwr"] {
                let file = try a.makefile(mode)
                let pair = try #require(file.pair, "\(mode)")
                #expect(file.reader == nil && file.writer == nil && file.raw == nil)
                #expect(pair.mode == "rwb")
                #expect(pair.reader.raw === pair.writer.raw)
                try await file.close()
            }
            for (mode, rawMode) in [("b", "rb"), ("rb", "rb"), ("wb", "wb"), ("rwb", "rwb"), ("wrb", "rwb")] {
                let file = try a.makefile(mode, buffering: 0)
                let raw = try #require(file.raw, "\(mode)")
                #expect(file.reader == nil && file.writer == nil && file.pair == nil)
                #expect(raw.mode == rawMode)
                try await file.close()
            }
            #expect(a.fileReferences == 0)
        }
    }

    @Test("CPY-01 CPY-03 class table, text: '', r → text over a reader; w → over a writer; rw → over a pair; mode kept as given")
    func textClassTable() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            for (mode, reads, writes) in [("", true, false), ("r", true, false), ("w", false, true),
                                          ("rw", true, true), ("wr", true, true)] {
                let file = try a.makefile(mode)
                let text = try #require(file.text, "\(mode)")
                #expect(file.reader == nil && file.writer == nil && file.pair == nil && file.raw == nil)
                #expect(text.mode == mode)
                #expect(try text.readable() == reads)
                #expect(try text.writable() == writes)
                #expect(text.name == a.fileDescriptor)
                #expect(text.encoding == .utf8)
                #expect(text.newline == .universal)
                try await file.close()
            }
            #expect(a.fileReferences == 0)
        }
    }

    @Test("CPY-04 text modes cannot be unbuffered: makefile(\"r\", buffering: 0) fails and takes no reference")
    func unbufferedText() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            for mode in ["r", "w", "rw", ""] {
                await expectIOError(.invalidArgument, message: "unbuffered streams must be binary") {
                    _ = try a.makefile(mode, buffering: 0)
                }
            }
            #expect(a.fileReferences == 0)
        }
    }

    @Test("CPY-04 buffering: 0 gives the raw object, nil and negative values the default 8192, positive values are used as given")
    func bufferingArgument() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            #expect(defaultBufferSize == 8192)
            for buffering in [nil, -1, -2, -8192, Int.min] as [Int?] {
                let reader = try #require(try a.makefile("rb", buffering: buffering).reader)
                #expect(reader.bufferSize == 8192)
                reader.close()
                let writer = try #require(try a.makefile("wb", buffering: buffering).writer)
                #expect(writer.bufferSize == 8192)
                try await writer.close()
                let pair = try #require(try a.makefile("rwb", buffering: buffering).pair)
                #expect(pair.reader.bufferSize == 8192 && pair.writer.bufferSize == 8192)
                try await pair.close()
            }
            for size in [1, 2, 16, 100_000] {
                let reader = try #require(try a.makefile("rb", buffering: size).reader)
                #expect(reader.bufferSize == size)
                reader.close()
                let writer = try #require(try a.makefile("wb", buffering: size).writer)
                #expect(writer.bufferSize == size)
                try await writer.close()
            }
            #expect(try a.makefile("rb", buffering: 0).raw != nil)
            #expect(try a.makeReader().bufferSize == 8192)
            #expect(try a.makeWriter(bufferSize: 3).bufferSize == 3)
            #expect(try a.makeReadWritePair(bufferSize: 5).reader.bufferSize == 5)
            for size in [0, -1] {
                await expectIOError(.invalidArgument, message: "buffer size must be strictly positive") {
                    try a.makeReader(bufferSize: size)
                }
                await expectIOError(.invalidArgument, message: "buffer size must be strictly positive") {
                    try a.makeWriter(bufferSize: size)
                }
                await expectIOError(.invalidArgument, message: "buffer size must be strictly positive") {
                    try a.makeReadWritePair(bufferSize: size)
                }
            }
            // Failed constructions gave their references back; the dropped files above released theirs.
            #expect(a.fileReferences == 0)
        }
    }

    @Test("CPY-05 makefile(\"wb\", buffering: 1) is a one-byte buffer, not line buffering: a newline waits for flush()")
    func bufferingOneIsNotLineBuffering() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let writer = try #require(try a.makefile("wb", buffering: 1).writer)
            #expect(try await writer.write(bytes("\n")) == 1)
            #expect(try await pendingBytes(b) == nil)
            #expect(writer.bufferedByteCount == 1)
            try await writer.flush()
            #expect(try await pendingBytes(b) == bytes("\n"))
            // A write larger than the one-byte buffer goes straight through, as in CPython.
            #expect(try await writer.write(bytes("x\n")) == 2)
            #expect(try await pendingBytes(b) == bytes("x\n"))
            // One byte stays until the next write pushes it out.
            #expect(try await writer.write(bytes("y")) == 1)
            #expect(try await pendingBytes(b) == nil)
            #expect(try await writer.write(bytes("\n")) == 1)
            #expect(try await pendingBytes(b) == bytes("y"))
            try await writer.close()
            #expect(try await pendingBytes(b) == bytes("\n"))
        }
    }

    @Test("CPY-06 buffered attributes: reader and writer name == fileno, their mode; the pair has a mode, no descriptor, cannot seek")
    func bufferedAttributes() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let fd = a.fileDescriptor
            let reader = try a.makeReader()
            let writer = try a.makeWriter()
            let pair = try a.makeReadWritePair()
            defer { reader.close() }
            #expect(reader.name == fd)
            #expect(writer.name == fd)
            #expect(try reader.raw.fileno() == fd)
            #expect(reader.mode == "rb" && writer.mode == "wb" && pair.mode == "rwb")
            #expect(pair.seekable() == false)
            await expectIOError(.unsupportedOperation, message: "fileno") { try pair.fileno() }
            #expect(reader.isClosed == false && writer.isClosed == false && pair.isClosed == false)
            try await writer.close()
            try await pair.close()
        }
    }

    @Test("CPY-07 buffered files after close: name -1, isClosed, and read/readline/peek/readinto/write/flush fail with CPython's messages")
    func bufferedAfterClose() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let reader = try a.makeReader()
            let writer = try a.makeWriter()
            let pair = try a.makeReadWritePair()
            try await b.sendAll(bytes("buffered\n"))
            #expect(try await reader.peek() == bytes("buffered\n"))
            #expect(try await writer.write(bytes("unsent")) == 6)
            reader.close()
            reader.close()
            try await writer.close()
            try await writer.close()
            try await pair.close()
            try await pair.close()
            #expect(reader.isClosed && writer.isClosed && pair.isClosed)
            #expect(pair.reader.isClosed && pair.writer.isClosed)
            #expect(reader.name == -1 && writer.name == -1 && pair.reader.name == -1)
            #expect(reader.bufferedByteCount == 0)
            let buffer = scratch(4)
            defer { buffer.deallocate() }
            await expectIOError(.invalidArgument, message: "read of closed file") { try await reader.read(1) }
            await expectIOError(.invalidArgument, message: "read of closed file") { try await reader.read() }
            await expectIOError(.invalidArgument, message: "read of closed file") { try await reader.read1(1) }
            await expectIOError(.invalidArgument, message: "peek of closed file") { try await reader.peek() }
            await expectIOError(.invalidArgument, message: "readinto of closed file") { try await reader.readInto(buffer) }
            await expectIOError(.invalidArgument, message: "readinto of closed file") { try await reader.readInto1(buffer) }
            await expectIOError(.invalidArgument, message: "readline of closed file") { try await reader.readLine() }
            await expectIOError(.invalidArgument, message: "readline of closed file") { try await reader.readLine(maxLength: 5) }
            await expectIOError(.invalidArgument, message: "readline of closed file") { try await reader.readLines() }
            await expectIOError(.invalidArgument, message: "read of closed file") { try await reader.read(until: [0]) }
            await expectIOError(.invalidArgument, message: "write to closed file") { try await writer.write(bytes("x")) }
            await expectIOError(.invalidArgument, message: "write to closed file") { try await writer.write([]) }
            await expectIOError(.invalidArgument, message: "flush of closed file") { try await writer.flush() }
            await expectIOError(.invalidArgument, message: "read of closed file") { try await pair.read(1) }
            await expectIOError(.invalidArgument, message: "write to closed file") { try await pair.write(bytes("x")) }
            await expectIOError(.invalidArgument, message: "flush of closed file") { try await pair.flush() }
            // Nothing was flushed by the failed calls; closing the writer flushed "unsent" once.
            #expect(try await pendingBytes(b) == bytes("unsent"))
            #expect(a.fileReferences == 0)
        }
    }

    @Test("CPY-12 three buffered files + socket close: the fd closes only with the last; double close counts once; an rwb pair is one reference")
    func threeBufferedFiles() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let reader = try #require(try a.makefile("rb").reader)
            let writer = try #require(try a.makefile("wb").writer)
            let pair = try #require(try a.makefile("rwb").pair)
            #expect(a.fileReferences == 3)
            a.close()
            #expect(a.fileDescriptor >= 0)
            reader.close()
            reader.close()
            #expect(a.fileReferences == 2)
            #expect(try await writer.write(bytes("from the writer")) == 15)
            try await writer.close()
            try await writer.close()
            #expect(a.fileReferences == 1)
            #expect(a.fileDescriptor >= 0)
            #expect(try await pendingBytes(b) == bytes("from the writer"))
            // The pair's two halves share one reference: the connection still works both ways.
            try await b.sendAll(bytes("ping\n"))
            #expect(try await pair.readLine() == bytes("ping\n"))
            try await pair.write(bytes("pong\n"))
            try await pair.flush()
            #expect(try await pendingBytes(b) == bytes("pong\n"))
            try await pair.close()
            #expect(a.fileReferences == 0)
            #expect(a.fileDescriptor == -1)
            #expect(try await receiveUntilEOF(b) == [])
        }
    }

    @Test("CPY-12 the pair's halves share one raw object: closing the reader alone releases the one reference; the pair's close is then harmless")
    func pairHalves() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let pair = try a.makeReadWritePair()
            #expect(a.fileReferences == 1)
            pair.reader.close()
            #expect(a.fileReferences == 0)
            await expectIOError(.invalidArgument, message: "read of closed file") { try await pair.read(1) }
            try await pair.close()
            try await pair.close()
            #expect(a.fileReferences == 0)
            #expect(a.fileDescriptor >= 0)
        }
    }

    @Test("CPY-13 dropping unclosed buffered files releases their references and closes an already-closed socket's fd")
    func droppedBufferedFiles() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try await b.sendAll(bytes("kept in the dropped buffer"))
            do {
                let reader = try a.makeReader()
                #expect(try await reader.read(4) == bytes("kept"))
                let writer = try a.makeWriter()
                #expect(try await writer.write(bytes("sent")) == 4)
                try await writer.flush()
                let pair = try a.makeReadWritePair()
                #expect(pair.isClosed == false)
                #expect(a.fileReferences == 3)
                a.close()
                #expect(a.fileDescriptor >= 0)
            }
            #expect(a.fileReferences == 0)
            #expect(a.fileDescriptor == -1)
            #expect(try await receiveUntilEOF(b) == bytes("sent"))
        }
    }

    @Test("CPY-13 a dropped unflushed writer cannot flush (no async deinit): its bytes are dropped, its reference released")
    func droppedUnflushedWriter() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            do {
                let writer = try a.makeWriter()
                #expect(try await writer.write(bytes("never sent")) == 10)
            }
            #expect(a.fileReferences == 0)
            #expect(a.fileDescriptor >= 0)
            a.close()
            #expect(try await receiveUntilEOF(b) == [])
        }
    }
}
