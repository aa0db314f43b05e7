import Testing
@testable import GreenIO

/// Nothing is lost when a read throws (GreenIO beyond CPython, CPY-45/46 for text), and the text
/// layer over real sockets (CPY-50, CPY-57, CPY-59) through the raw file object.
@Suite("Text timeouts and errors keep data", .timeLimit(.minutes(1)))
struct TextTimeoutTests {
    @Test("A timeout inside readLine keeps the partial line; the next readLine returns the whole line")
    func readLineKeepsPartialLine() async throws {
        let reader = ScriptedReader(chunks: [bytes("ab"), bytes("c")], end: .timeout)
        let file = TextIOWrapper(reader: reader, writer: nil, mode: "r")
        #expect(await ioError { try await file.readLine() }?.kind == .timedOut)
        reader.append(chunks: [bytes("def\n")])
        #expect(try await file.readLine() == "abcdef\n")
    }

    @Test("A timeout inside read(n) keeps the text gathered; errors of any kind leave it in place")
    func readKeepsText() async throws {
        let reader = ScriptedReader([.bytes(bytes("ab")), .failure(CancellationError()),
                                     .failure(IOError(.system, "Connection reset by peer"))], end: .timeout)
        let file = TextIOWrapper(reader: reader, writer: nil, mode: "r")
        await #expect(throws: CancellationError.self) { try await file.read(4) }
        #expect(await ioError { try await file.read(4) }?.kind == .system)
        #expect(await ioError { try await file.read() }?.kind == .timedOut)
        reader.append(chunks: [bytes("cd")])
        #expect(try await file.read(4) == "abcd")
    }

    @Test("A timeout inside readLines puts the lines already gathered back")
    func readLinesPutsBack() async throws {
        let reader = ScriptedReader(chunks: [bytes("a\nb\r"), bytes("\nc")], end: .timeout)
        let file = TextIOWrapper(reader: reader, writer: nil, newline: .universalUntranslated, mode: "r")
        #expect(await ioError { try await file.readLines() }?.kind == .timedOut)
        reader.append(chunks: [bytes("\n")])
        reader.end = .endOfStream
        #expect(try await file.readLines() == ["a\n", "b\r\n", "c\n"])
    }

    @Test("CPY-50 over a socket with a timeout: readLine on abc\\r times out, keeps it, and returns abc\\n once \\nX arrives",
          arguments: [(NewlineMode.universal, "abc\n"), (.universalUntranslated, "abc\r\n")])
    func trailingCarriageReturnOverSocket(mode: NewlineMode, line: String) async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(.timeout(.milliseconds(50)))
            let raw = try a.makeSocketIO(mode: "rb")
            raw.timeoutPolicy = .resumable
            let file = TextIOWrapper(reader: RawFileReader(raw), writer: nil, newline: mode, mode: "r")
            try await b.sendAll(bytes("abc\r"))
            #expect(await ioError { try await file.readLine() }?.kind == .timedOut)
            try await b.sendAll(bytes("\nX"))
            #expect(try await file.readLine() == line)
            b.close()
            #expect(try await file.readLine() == "X")
            #expect(try await file.readLine() == "")
            try await file.close()
            #expect(raw.isClosed)
        }
    }

    @Test("CPY-57 and CPY-59 over a socket pair: MSG written in pieces round-trips; a split character waits")
    func roundTripOverSocket() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(.timeout(.milliseconds(50)))
            let raw = try a.makeSocketIO(mode: "rb")
            raw.timeoutPolicy = .resumable
            let incoming = TextIOWrapper(reader: RawFileReader(raw), writer: nil, newline: .universalUntranslated, mode: "r")
            let outgoing = TextIOWrapper(reader: nil, writer: RawFileWriter(try b.makeSocketIO(mode: "wb")),
                                         newline: .universalUntranslated, mode: "w")
            let message = "Michael Gilfix was here\u{1234}\r\n"
            try await outgoing.write(message)
            try await outgoing.flush()
            #expect(try await incoming.readLine() == message)

            try await b.sendAll([0x61, 0xE1])  // "a" and the first byte of U+1234
            #expect(try await incoming.read(1) == "a")
            #expect(await ioError { try await incoming.read(1) }?.kind == .timedOut)
            try await b.sendAll([0x88, 0xB4])
            #expect(try await incoming.read(1) == "\u{1234}")
            try await outgoing.close()
            b.close()
            #expect(try await incoming.read() == "")
            try await incoming.close()
        }
    }
}

/// A `BinaryReading` made of the raw file object alone: one raw read per `read1` (enough to run
/// the text layer over a real socket without the buffered reader).
final class RawFileReader: BinaryReading, @unchecked Sendable {
    let file: SocketIO
    init(_ file: SocketIO) { self.file = file }

    func read1(_ count: Int, deadline: Deadline?) async throws -> [UInt8]? {
        try await file.read(count < 0 ? 8192 : count)
    }

    func close() { file.close() }
    var isClosed: Bool { file.isClosed }
}

/// A `BinaryWriting` made of the raw file object alone: writes go straight out, `flush` has
/// nothing to do.
final class RawFileWriter: BinaryWriting, @unchecked Sendable {
    let file: SocketIO
    init(_ file: SocketIO) { self.file = file }

    func write(_ bytes: [UInt8], deadline: Deadline?) async throws -> Int {
        var sent = 0
        while sent < bytes.count {
            guard let count = try await file.write(Array(bytes[sent...])) else {
                throw IOError.wouldBlock(bytesTransferred: sent)
            }
            sent += count
        }
        return bytes.count
    }

    func flush(deadline: Deadline?) async throws {
        if file.isClosed { throw IOError.invalidArgument("flush of closed file") }
    }

    func close() async throws { file.close() }
    var isClosed: Bool { file.isClosed }
}
