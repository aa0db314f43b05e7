import Testing
@testable import GreenIO

/// CPY-51 (text part), CPY-05 (no line buffering): the write side of the text layer.
@Suite("Text writes", .timeLimit(.minutes(1)))
struct TextWriteTests {
    @Test("CPY-51 latin-1/replace with newline '\\r\\n' sends a\\r\\nb?\\r\\n for 'a\\nb€\\n'")
    func latin1ReplaceCRLF() async throws {
        let writer = RecordingWriter()
        let file = TextIOWrapper(reader: nil, writer: writer, encoding: try TextEncoding(name: "latin-1"),
                                 errors: .replace, newline: .crlf, mode: "w")
        #expect(try await file.write("a\nb€\n") == 5)
        try await file.flush()
        #expect(writer.sent == bytes("a\r\nb?\r\n"))
    }

    @Test("CPY-51 latin-1/strict: a character above U+00FF fails with Python's message and nothing is written")
    func latin1Strict() async throws {
        let writer = RecordingWriter()
        let file = TextIOWrapper(reader: nil, writer: writer, encoding: .latin1, mode: "w")
        let error = await ioError { try await file.write("ab€€c€") }
        #expect(error?.kind == .encodingFailed)
        #expect(error?.message == "'latin-1' codec can't encode characters in position 2-3: ordinal not in range(256)")
        let astral = await ioError { try await file.write("a\u{1F600}") }
        #expect(astral?.message == "'latin-1' codec can't encode character '\\U0001f600' in position 1: ordinal not in range(256)")
        #expect(writer.writeCalls == 0)
        #expect(try await file.write("é\n") == 2)
        try await file.close()
        #expect(writer.sent == [0xE9, 0x0A])
    }

    @Test("CPY-05 writes stay buffered until flush (no line buffering); the count is in code points before translation")
    func bufferedUntilFlush() async throws {
        let writer = RecordingWriter()
        let file = TextIOWrapper(reader: nil, writer: writer, newline: .crlf, mode: "w")
        #expect(try await file.write("x\n") == 2)
        #expect(try await file.write("e\u{301}\u{1234}") == 3)
        #expect(try await file.write("") == 0)
        #expect(writer.sent.isEmpty)
        try await file.flush()
        #expect(writer.sent == bytes("x\r\ne\u{301}\u{1234}"))
    }

    @Test("Non-blocking: bytes the writer cannot take stay in the wrapper and go first on the next write or flush")
    func nonBlockingLeftovers() async throws {
        let writer = RecordingWriter(room: 3)
        let file = TextIOWrapper(reader: nil, writer: writer, mode: "w")
        #expect(try await file.write("hello") == 5)  // 3 bytes taken, "lo" kept
        let blocked = await ioError { try await file.write("world") }
        #expect(blocked?.kind == .wouldBlock)
        #expect(blocked?.bytesTransferred == 0)
        let stillBlocked = await ioError { try await file.flush() }
        #expect(stillBlocked?.kind == .wouldBlock)
        writer.room = 1
        #expect(await ioError { try await file.flush() }?.kind == .wouldBlock)  // "l" taken, "o" kept
        writer.room = nil
        #expect(try await file.write("world") == 5)
        try await file.flush()
        #expect(writer.sent == bytes("helloworld"))
    }

    @Test("close() flushes, closes the writer, and later writes fail with 'I/O operation on closed file.'")
    func closeFlushes() async throws {
        let writer = RecordingWriter()
        let file = TextIOWrapper(reader: nil, writer: writer, mode: "w")
        try await file.write("bye\n")
        try await file.close()
        #expect(writer.sent == bytes("bye\n"))
        #expect(writer.isClosed)
        #expect(file.isClosed)
        try await file.close()  // idempotent
        let error = await ioError { try await file.write("x") }
        #expect(error?.kind == .invalidArgument)
        #expect(error?.message == "I/O operation on closed file.")
        #expect(await ioError { try await file.flush() }?.message == "I/O operation on closed file.")
    }

    @Test("close() with bytes the writer cannot take: closed anyway, and the would-block error is thrown")
    func closeWithUnsendableBytes() async throws {
        let writer = RecordingWriter(room: 2)
        let file = TextIOWrapper(reader: nil, writer: writer, mode: "w")
        try await file.write("abcd")
        let error = await ioError { try await file.close() }
        #expect(error?.kind == .wouldBlock)
        #expect(file.isClosed)
        #expect(writer.isClosed)
        #expect(writer.sent == bytes("ab"))
    }
}
