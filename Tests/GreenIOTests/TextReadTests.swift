import Testing
@testable import GreenIO

/// CPY-57 and the read-side contract of the text layer: counts, hints, attributes, errors.
@Suite("Text reads", .timeLimit(.minutes(1)))
struct TextReadTests {
    static let message = "Michael Gilfix was here\u{1234}\r\n"

    /// A wrapper over MSG split into reads of `chunk` bytes, with newline '' (CPython's
    /// Unicode*FileObjectClassTestCase).
    func messageReader(chunk: Int, mode: String = "r") -> TextIOWrapper {
        let data = bytes(Self.message)
        let chunks = stride(from: 0, to: data.count, by: chunk).map { Array(data[$0..<min($0 + chunk, data.count)]) }
        return TextIOWrapper(reader: ScriptedReader(chunks: chunks), writer: nil,
                             newline: .universalUntranslated, mode: mode)
    }

    @Test("CPY-57 small read, full read, read(1) loop and readline round-trip MSG (newline '')",
          arguments: [1, 3, 7, 100])
    func roundTrips(chunk: Int) async throws {
        let small = messageReader(chunk: chunk)
        let first = try #require(try await small.read(5))
        let rest = try #require(try await small.read())
        #expect(first + rest == Self.message)
        #expect(try await messageReader(chunk: chunk).read() == Self.message)

        let oneByOne = messageReader(chunk: chunk)
        var rebuilt = ""
        while let character = try await oneByOne.read(1), !character.isEmpty {
            #expect(character.unicodeScalars.count == 1)
            rebuilt += character
        }
        #expect(rebuilt == Self.message)
        #expect(try await messageReader(chunk: chunk).readLine() == Self.message)
    }

    @Test("CPY-57 read-write variant: MSG written through the wrapper reads back through a second wrapper; mode as given")
    func readWriteRoundTrip() async throws {
        let writer = RecordingWriter()
        let outgoing = TextIOWrapper(reader: nil, writer: writer, newline: .universalUntranslated, mode: "w")
        #expect(try await outgoing.write(Self.message) == Self.message.unicodeScalars.count)
        try await outgoing.flush()
        let both = TextIOWrapper(reader: ScriptedReader(chunks: [writer.sent]), writer: RecordingWriter(),
                                 newline: .universalUntranslated, mode: "rw")
        #expect(both.mode == "rw")
        #expect(try both.readable() && both.writable())
        #expect(try await both.readLine() == Self.message)
        #expect(outgoing.mode == "w")
        #expect(messageReader(chunk: 1, mode: "").mode == "")
    }

    @Test("read(n) waits for n characters or the end of the stream; read(0) is empty; read() reads to the end")
    func readCounts() async throws {
        let file = textReader([bytes("ab"), bytes("c\u{E9}"), bytes("d\nef")])
        #expect(try await file.read(0) == "")
        #expect(try await file.read(4) == "abc\u{E9}")
        #expect(try await file.read(2) == "d\n")
        #expect(try await file.read(100) == "ef")
        #expect(try await file.read(5) == "")
        #expect(try await file.read() == "")
        #expect(try await file.readLine() == "")
        #expect(try await file.readLines() == [])
    }

    @Test("readLines(hint:) stops after the line that makes the total exceed the hint (Python's rule)",
          arguments: [(0, 4), (-1, 4), (1, 1), (3, 1), (4, 2), (5, 2), (6, 3), (8, 3), (9, 4), (100, 4)])
    func readLinesHint(hint: Int, lineCount: Int) async throws {
        let all = ["abc\n", "d\n", "ef\n", "g"]
        let file = textReader([bytes("abc\nd\nef\ng")])
        let lines = try #require(try await file.readLines(hint: hint))
        #expect(lines == Array(all.prefix(lineCount)))
        #expect(try await file.read() == all.dropFirst(lineCount).joined())
    }

    @Test("Closed wrapper: every call fails with 'I/O operation on closed file.'; closing closes the reader")
    func closedErrors() async throws {
        let reader = ScriptedReader(chunks: [bytes("abc\n")])
        let file = TextIOWrapper(reader: reader, writer: nil, mode: "r")
        #expect(!file.isClosed)
        try await file.close()
        #expect(file.isClosed)
        #expect(reader.isClosed)
        let calls: [(String, () async throws -> Void)] = [
            ("read", { _ = try await file.read() }),
            ("read(1)", { _ = try await file.read(1) }),
            ("readLine", { _ = try await file.readLine() }),
            ("readLines", { _ = try await file.readLines() }),
            ("write", { _ = try await file.write("x") }),
            ("flush", { try await file.flush() }),
            ("readable", { _ = try file.readable() }),
            ("writable", { _ = try file.writable() }),
            ("seekable", { _ = try file.seekable() }),
        ]
        for (name, call) in calls {
            let error = await ioError(call)
            #expect(error?.kind == .invalidArgument, "\(name)")
            #expect(error?.message == "I/O operation on closed file.", "\(name)")
        }
    }

    @Test("A wrapper whose reader was closed underneath reports closed")
    func readerClosedUnderneath() async throws {
        let reader = ScriptedReader(chunks: [bytes("abc\n")])
        let file = TextIOWrapper(reader: reader, writer: nil, mode: "r")
        reader.close()
        #expect(file.isClosed)
        #expect(await ioError { try await file.readLine() }?.message == "I/O operation on closed file.")
    }

    @Test("Reading a write-only wrapper: 'not readable'; writing a read-only one: 'not writable'")
    func unsupportedDirections() async throws {
        let writeOnly = TextIOWrapper(reader: nil, writer: RecordingWriter(), mode: "w")
        #expect(try writeOnly.readable() == false)
        for call in [{ _ = try await writeOnly.read() }, { _ = try await writeOnly.readLine() },
                     { _ = try await writeOnly.readLines() }] as [() async throws -> Void] {
            let error = await ioError(call)
            #expect(error?.kind == .unsupportedOperation)
            #expect(error?.message == "not readable")
        }
        let readOnly = textReader([bytes("x")])
        #expect(try readOnly.writable() == false)
        let error = await ioError { try await readOnly.write("x") }
        #expect(error?.kind == .unsupportedOperation)
        #expect(error?.message == "not writable")
        try await readOnly.flush()  // nothing to flush: no error, as Python
        #expect(try await readOnly.read() == "x")
    }

    @Test("Attributes: mode as given, encoding, errors, newline")
    func attributes() throws {
        let file = TextIOWrapper(reader: ScriptedReader(chunks: []), writer: nil, encoding: .latin1,
                                 errors: .replace, newline: .crlf, mode: "")
        #expect(file.mode == "")
        #expect(file.encoding == .latin1)
        #expect(file.encoding.name == "latin-1")
        #expect(file.errors == .replace)
        #expect(file.newline == .crlf)
        #expect(file.newline.pythonValue == "\r\n")
        #expect(try file.seekable() == false)
    }

    @Test("A second green thread reading while a read waits gets .busy; the first read is unaffected")
    func concurrentReadIsBusy() async throws {
        try await onHub(limit: .seconds(10)) {
            let gate = GateReader()
            let file = TextIOWrapper(reader: gate, writer: nil, mode: "r")
            let hub = try #require(Hub.current)
            let first = hub.spawn { try await file.readLine() }
            #expect(try await yieldUntil { gate.isWaiting })
            let error = await ioError { try await file.readLine() }
            #expect(error?.kind == .busy)
            gate.open(with: bytes("line\n"))
            #expect(try await first.value == "line\n")
        }
    }
}

/// A reader whose first `read1` waits (yielding to the hub) until `open(with:)` is called.
final class GateReader: BinaryReading, @unchecked Sendable {
    private var chunk: [UInt8]?
    private(set) var isWaiting = false
    private(set) var isClosed = false

    func open(with bytes: [UInt8]) { chunk = bytes }

    func read1(_ count: Int, deadline: Deadline?) async throws -> [UInt8]? {
        isWaiting = true
        defer { isWaiting = false }
        while chunk == nil { try await Hub.yield() }
        defer { chunk = [] }
        return chunk ?? []
    }

    func close() { isClosed = true }
}
