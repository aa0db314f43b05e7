import Testing
@testable import GreenIO

/// CPY-58 and CPY-50: newline modes on the read and write side, and the trailing-`\r` wait.
@Suite("Text newline modes", .timeLimit(.minutes(1)))
struct TextNewlineTests {
    static let table: [(NewlineMode, [String])] = [
        (.universal, ["a\n", "b\n", "c\n", "d"]),
        (.universalUntranslated, ["a\r\n", "b\r", "c\n", "d"]),
        (.lf, ["a\r\n", "b\rc\n", "d"]),
        (.crlf, ["a\r\n", "b\rc\nd"]),
        (.cr, ["a\r", "\nb\r", "c\nd"]),
    ]

    @Test("CPY-58 read side: the lines of a\\r\\nb\\rc\\nd for None, '', '\\n', '\\r\\n', '\\r'",
          arguments: table.indices)
    func readTable(row: Int) async throws {
        let (mode, expected) = Self.table[row]
        #expect(try await allLines(textReader([bytes("a\r\nb\rc\nd")], newline: mode)) == expected)
        // The same with every byte in its own read.
        let dripped = textReader(bytes("a\r\nb\rc\nd").map { [$0] }, newline: mode)
        #expect(try await allLines(dripped) == expected)
        // readLines and the line sequence agree.
        #expect(try await textReader([bytes("a\r\nb\rc\nd")], newline: mode).readLines() == expected)
        var iterated: [String] = []
        for try await line in textReader([bytes("a\r\nb\rc\nd")], newline: mode).lines { iterated.append(line) }
        #expect(iterated == expected)
    }

    @Test("CPY-58 read side: only None translates; read() returns the translated whole")
    func readTranslation() async throws {
        #expect(try await textReader([bytes("a\r\nb\rc\nd\r")], newline: .universal).read() == "a\nb\nc\nd\n")
        for mode in [NewlineMode.universalUntranslated, .lf, .crlf, .cr] {
            #expect(try await textReader([bytes("a\r\nb\rc\nd\r")], newline: mode).read() == "a\r\nb\rc\nd\r")
        }
    }

    @Test("CPY-58 write side: None, '' and '\\n' keep \\n; '\\r\\n' and '\\r' translate it",
          arguments: [(NewlineMode.universal, "a\nb\r\n"), (.universalUntranslated, "a\nb\r\n"),
                      (.lf, "a\nb\r\n"), (.crlf, "a\r\nb\r\r\n"), (.cr, "a\rb\r\r")])
    func writeTable(mode: NewlineMode, expected: String) async throws {
        let writer = RecordingWriter()
        let file = TextIOWrapper(reader: nil, writer: writer, newline: mode, mode: "w")
        #expect(try await file.write("a\nb\r\n") == 5)
        try await file.flush()
        #expect(writer.sent == bytes(expected))
    }

    @Test("NewlineMode(python:) accepts Python's five values and rejects others")
    func pythonValues() throws {
        for value in [nil, "", "\n", "\r\n", "\r"] as [String?] {
            #expect(try NewlineMode(python: value).pythonValue == value)
        }
        let error = #expect(throws: IOError.self) { try NewlineMode(python: "\n\r") }
        #expect(error?.kind == .invalidArgument)
        #expect(error?.message == "illegal newline value: \n\r")
    }

    @Test("CPY-50 trailing \\r with a timeout: readLine throws, keeps abc\\r, and returns abc\\n once \\nX arrives",
          arguments: [(NewlineMode.universal, "abc\n", "X"), (.universalUntranslated, "abc\r\n", "X")])
    func trailingCarriageReturnWaits(mode: NewlineMode, line: String, rest: String) async throws {
        let reader = ScriptedReader(chunks: [bytes("abc\r")], end: .timeout)
        let file = TextIOWrapper(reader: reader, writer: nil, newline: mode, mode: "r")
        let error = await ioError { try await file.readLine() }
        #expect(error?.kind == .timedOut)
        #expect(await ioError { try await file.readLine() }?.kind == .timedOut)
        reader.append(chunks: [bytes("\nX")])
        reader.end = .endOfStream
        #expect(try await file.readLine() == line)
        #expect(try await file.readLine() == rest)
        #expect(try await file.readLine() == "")
    }

    @Test("CPY-50 trailing \\r: at the end of the stream the \\r ends the line; read(4) waits for it too")
    func trailingCarriageReturnAtEnd() async throws {
        #expect(try await allLines(textReader([bytes("abc\r")], newline: .universal)) == ["abc\n"])
        #expect(try await allLines(textReader([bytes("abc\r")], newline: .universalUntranslated)) == ["abc\r"])
        // `.cr` ends the line at once: no wait.
        let cr = textReader([bytes("abc\r")], end: .timeout, newline: .cr)
        #expect(try await cr.readLine() == "abc\r")
        // read(4) cannot return the held \r before it knows what follows.
        let held = textReader([bytes("abc\r")], end: .timeout, newline: .universal)
        #expect(await ioError { try await held.read(4) }?.kind == .timedOut)
        #expect(try await held.read(3) == "abc")
    }

    @Test("CPY-50 trailing \\r then \\r: the first is a line end of its own")
    func carriageReturnPairs() async throws {
        let file = textReader([bytes("a\r"), bytes("\r"), bytes("\n")], newline: .universalUntranslated)
        #expect(try await allLines(file) == ["a\r", "\r\n"])
        let translated = textReader([bytes("a\r"), bytes("\r"), bytes("b")], newline: .universal)
        #expect(try await allLines(translated) == ["a\n", "\n", "b"])
    }

    @Test("'\\r\\n' mode: a \\r at the end of a chunk waits for the next one")
    func crlfSplitAcrossReads() async throws {
        let file = textReader([bytes("ab\r"), bytes("\ncd\r"), bytes("x\r"), bytes("\n")], newline: .crlf)
        #expect(try await allLines(file) == ["ab\r\n", "cd\rx\r\n"])
    }
}
