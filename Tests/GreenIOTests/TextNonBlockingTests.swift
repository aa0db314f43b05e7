import Testing
@testable import GreenIO

/// CPY-43 and the would-block rule: nil means "would block" at every read entry point, and
/// nothing received is lost while waiting.
@Suite("Text over a non-blocking reader", .timeLimit(.minutes(1)))
struct TextNonBlockingTests {
    @Test("CPY-43 nothing available: read(5), read() and readLine() give nil (Python: '', TypeError, '')")
    func nothingAvailable() async throws {
        let file = textReader([], end: .wouldBlock)
        #expect(try await file.read(5) == nil)
        #expect(try await file.read() == nil)
        #expect(try await file.readLine() == nil)
        #expect(try await file.readLines() == nil)
        #expect(try await file.read(0) == "")
        #expect(try await file.readLine(limit: 0) == "")
    }

    @Test("CPY-43 partial text: read(n) and read() return what is decodable; readLine keeps a partial line and gives nil")
    func partialText() async throws {
        let reader = ScriptedReader(chunks: [bytes("ab")], end: .wouldBlock)
        let file = TextIOWrapper(reader: reader, writer: nil, mode: "r")
        #expect(try await file.readLine() == nil)  // "ab" kept (CPython returns it)
        #expect(try await file.read(5) == "ab")
        reader.append(chunks: [bytes("cd\u{E9}")])
        #expect(try await file.read() == "cd\u{E9}")
        reader.append(chunks: [bytes("par"), bytes("tial")])
        #expect(try await file.readLine() == nil)
        #expect(try await file.readLine() == nil)
        reader.append(chunks: [bytes(" line\nnext")])
        #expect(try await file.readLine() == "partial line\n")
        #expect(try await file.readLine() == nil)
        reader.end = .endOfStream
        #expect(try await file.readLine() == "next")
        #expect(try await file.readLine() == "")
    }

    @Test("CPY-43 would-block between the bytes of one character: nil until it is complete, never half a character")
    func splitCharacterWouldBlock() async throws {
        let reader = ScriptedReader([.bytes([0xE1]), .wouldBlock, .bytes([0x88]), .wouldBlock, .bytes([0xB4])],
                                    end: .wouldBlock)
        let file = TextIOWrapper(reader: reader, writer: nil, mode: "r")
        #expect(try await file.read(1) == nil)
        #expect(try await file.read() == nil)
        #expect(try await file.read(1) == "\u{1234}")
        #expect(try await file.read(1) == nil)
    }

    @Test("CPY-43 a held \\r is not returned while the socket would block; \\n arriving later joins it")
    func heldCarriageReturnWouldBlock() async throws {
        let reader = ScriptedReader(chunks: [bytes("ab\r")], end: .wouldBlock)
        let file = TextIOWrapper(reader: reader, writer: nil, newline: .universalUntranslated, mode: "r")
        #expect(try await file.readLine() == nil)
        #expect(try await file.read(3) == "ab")
        #expect(try await file.read(1) == nil)
        reader.append(chunks: [bytes("\nc")])
        #expect(try await file.readLine() == "\r\n")
    }

    @Test("readLines in non-blocking mode returns the complete lines and keeps the partial one")
    func readLinesWouldBlock() async throws {
        let reader = ScriptedReader(chunks: [bytes("a\nb\nc")], end: .wouldBlock)
        let file = TextIOWrapper(reader: reader, writer: nil, mode: "r")
        #expect(try await file.readLines() == ["a\n", "b\n"])
        #expect(try await file.readLines() == nil)
        reader.append(chunks: [bytes("d\n")])
        reader.end = .endOfStream
        #expect(try await file.readLines() == ["cd\n"])
    }

    @Test("The line sequence throws .wouldBlock when no complete line is available, then goes on")
    func lineSequenceWouldBlock() async throws {
        let reader = ScriptedReader(chunks: [bytes("one\ntw")], end: .wouldBlock)
        let file = TextIOWrapper(reader: reader, writer: nil, mode: "r")
        var iterator = file.lines.makeAsyncIterator()
        #expect(try await iterator.next() == "one\n")
        let error = await ioError { try await iterator.next() }
        #expect(error?.kind == .wouldBlock)
        reader.append(chunks: [bytes("o\n")])
        reader.end = .endOfStream
        #expect(try await iterator.next() == "two\n")
        #expect(try await iterator.next() == nil)
    }
}
