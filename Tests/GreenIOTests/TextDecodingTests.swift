import Testing
@testable import GreenIO

/// CPY-59, CPY-60, CPY-61: incremental decoding, decode errors, encodings.
@Suite("Text decoding", .timeLimit(.minutes(1)))
struct TextDecodingTests {
    @Test("CPY-59 a UTF-8 character split across reads is returned whole; read(1) returns the preceding character first")
    func splitCharacter() async throws {
        // U+1234 is E1 88 B4.
        let reader = ScriptedReader(chunks: [[0x61, 0xE1], [0x88], [0xB4, 0x62]], end: .timeout)
        let file = TextIOWrapper(reader: reader, writer: nil, mode: "r")
        #expect(try await file.read(1) == "a")
        #expect(try await file.read(1) == "\u{1234}")
        #expect(try await file.read(1) == "b")
        #expect(await ioError { try await file.read(1) }?.kind == .timedOut)

        let lines = textReader([[0xE1], [0x88, 0xB4], bytes("\n"), [0xF0, 0x9F], [0x98, 0x80]])
        #expect(try await allLines(lines) == ["\u{1234}\n", "\u{1F600}"])
    }

    @Test("CPY-59 read(1) waits (times out) while the rest of a character is missing, then continues")
    func splitCharacterTimeout() async throws {
        let reader = ScriptedReader(chunks: [[0x61, 0xE1]], end: .timeout)
        let file = TextIOWrapper(reader: reader, writer: nil, mode: "r")
        #expect(try await file.read(1) == "a")
        #expect(await ioError { try await file.read(1) }?.kind == .timedOut)
        reader.append(chunks: [[0x88, 0xB4]])
        #expect(try await file.read(1) == "\u{1234}")
    }

    @Test("CPY-60 strict: invalid UTF-8 is a decode error with Python's message; text before it is served, text after it follows")
    func strictDecodeError() async throws {
        let file = textReader([bytes("ok\nab"), [0xFF], bytes("cd\nef\n")])
        #expect(try await file.readLine() == "ok\n")
        let error = await ioError { try await file.readLine() }
        #expect(error?.kind == .decodingFailed)
        #expect(error?.message == "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte")
        // Only the invalid byte was dropped; the partial line "ab" was kept.
        #expect(try await file.readLine() == "abcd\n")
        #expect(try await file.readLine() == "ef\n")
        #expect(try await file.readLine() == "")
    }

    @Test("CPY-60 strict: a complete line before an invalid byte in the same read is returned before the error")
    func strictErrorAfterLine() async throws {
        let file = textReader([bytes("one\n") + [0xC3, 0x28] + bytes("\n")])
        #expect(try await file.readLine() == "one\n")
        let error = await ioError { try await file.readLine() }
        #expect(error?.message == "'utf-8' codec can't decode byte 0xc3 in position 0: invalid continuation byte")
        #expect(try await file.readLine() == "(\n")
    }

    @Test("CPY-60 strict: messages for a longer invalid sequence and for a truncated character at the end")
    func strictMessages() async throws {
        let longer = textReader([[0xE1, 0x88, 0x41]])
        #expect(await ioError { try await longer.read() }?.message
                == "'utf-8' codec can't decode bytes in position 0-1: invalid continuation byte")
        #expect(try await longer.read() == "A")

        let truncated = textReader([bytes("x"), [0xE1, 0x88]])
        let error = await ioError { try await truncated.read() }
        #expect(error?.kind == .decodingFailed)
        #expect(error?.message == "'utf-8' codec can't decode bytes in position 0-1: unexpected end of data")
        #expect(try await truncated.read() == "x")
        #expect(try await truncated.read() == "")
    }

    @Test("CPY-60 replace: U+FFFD then the rest of the line (one per maximal invalid subpart, as Python)")
    func replaceDecodeError() async throws {
        let file = textReader([bytes("ab") + [0xFF] + bytes("cd\n")], errors: .replace)
        #expect(try await file.readLine() == "ab\u{FFFD}cd\n")
        // Python: b'\xe1\x88A\xf0\x80\xed\xa0\x80'.decode('utf-8', 'replace')
        let subparts = textReader([[0xE1, 0x88, 0x41, 0xF0, 0x80, 0xED, 0xA0, 0x80]], errors: .replace)
        #expect(scalars(try #require(try await subparts.read()))
                == scalars("\u{FFFD}A\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}"))
        // A character cut off by the end of the stream is one U+FFFD.
        let truncated = textReader([bytes("x"), [0xF0, 0x9F, 0x98]], errors: .replace)
        #expect(try await truncated.read() == "x\u{FFFD}")
    }

    @Test("CPY-61 readline(2) on abc gives ab (the limit counts code points); UTF-8 is the default")
    func readLineLimit() async throws {
        let file = TextIOWrapper(reader: ScriptedReader(chunks: [bytes("abc")]), writer: nil, mode: "r")
        #expect(file.encoding == .utf8)
        #expect(try await file.readLine(limit: 2) == "ab")
        #expect(try await file.readLine(limit: 2) == "c")
        #expect(try await file.readLine(limit: 2) == "")
        // Code points, not bytes and not grapheme clusters: e + combining acute is two.
        let combining = textReader([bytes("e\u{301}\u{1234}x\n")])
        #expect(scalars(try #require(try await combining.readLine(limit: 1))) == ["e"])
        #expect(scalars(try #require(try await combining.readLine(limit: 2))) == ["\u{301}", "\u{1234}"])
        #expect(try await combining.readLine(limit: 0) == "")
        #expect(try await combining.readLine(limit: 5) == "x\n")
    }

    @Test("CPY-61 readLine(limit:) cuts a line ending that goes past the limit, as Python")
    func readLineLimitInsideLineEnding() async throws {
        let file = textReader([bytes("ab\r\ncd")], newline: .universalUntranslated)
        #expect(try await file.readLine(limit: 3) == "ab\r")
        #expect(try await file.readLine(limit: 3) == "\n")
        #expect(try await file.readLine(limit: 3) == "cd")
    }

    @Test("Latin-1 reads every byte as the code point of its value")
    func latin1Read() async throws {
        let file = textReader([[0x61, 0xE9, 0xFF, 0x80, 0x0A]], encoding: .latin1)
        #expect(try await file.readLine() == "a\u{E9}\u{FF}\u{80}\n")
    }

    @Test("TextEncoding(name:) accepts Python's spellings and rejects others with 'unknown encoding'")
    func encodingNames() throws {
        for name in ["utf-8", "utf8", "UTF-8", "utf_8"] { #expect(try TextEncoding(name: name) == .utf8) }
        for name in ["latin-1", "latin1", "iso-8859-1", "ISO-8859-1", "Latin_1"] {
            #expect(try TextEncoding(name: name) == .latin1)
        }
        let error = #expect(throws: IOError.self) { try TextEncoding(name: "koi8-r") }
        #expect(error?.kind == .invalidArgument)
        #expect(error?.message == "unknown encoding: koi8-r")
        #expect(TextEncoding.latin1.name == "latin-1")
        #expect(try CodecErrorPolicy(name: "replace") == .replace)
        #expect(try CodecErrorPolicy(name: "strict").name == "strict")
        #expect(throws: IOError.self) { try CodecErrorPolicy(name: "ignore") }
    }
}
