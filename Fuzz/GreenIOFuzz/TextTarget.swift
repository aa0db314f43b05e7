@testable import GreenIO

/// Fuzzes `TextIOWrapper` (and the `TextDecoder` under it) over a scripted stream: the input picks
/// the encoding, error policy, newline mode, blocking mode, buffer size, chunking and a sequence
/// of reads; the stream then is drained.
///
/// Input: options byte, buffer-size byte, plan section, operations section (two bytes each), then
/// the stream.
///
/// Invariants: the concatenated text equals the standard library's decoding of the whole stream
/// (`TextReference`), with newline translation in `.universal` mode; under `.strict` exactly one
/// `decodingFailed` per invalid sequence; lines end with their mode's line ending, except a last
/// one; limits hold; nil only in non-blocking mode. The bare `TextDecoder`, fed the same chunks,
/// must agree too.
struct TextTarget {
    let socket: ScriptedSocket
    let file: TextIOWrapper
    let nonBlocking: Bool
    let newline: NewlineMode
    let reference: TextReference
    let operations: [UInt8]
    let chunks: [Int]
    /// Everything read so far.
    var text: [Unicode.Scalar] = []
    var failures = 0
    /// Set after a line without line ending: nothing may follow it.
    var sawLastLine = false

    static let newlines: [NewlineMode] = [.universal, .universalUntranslated, .lf, .crlf, .cr]

    init(_ input: inout FuzzInput) throws {
        let options = input.byte()
        nonBlocking = options & 1 != 0
        let latin1 = options & 2 != 0
        let strict = options & 4 != 0
        newline = Self.newlines[Int(options >> 3) % Self.newlines.count]
        let sizeByte = input.byte()
        let bufferSize = sizeByte >= 0xF0 ? 8192 : Int(sizeByte % 64) + 1
        let planBytes = input.section()
        let plan = ScriptedSocket.plan(from: planBytes, timeouts: true)
        operations = input.section()
        let stream = input.rest()
        chunks = planBytes.map { Int($0) + 1 }
        socket = ScriptedSocket(stream: stream, plan: plan, ending: .endOfStream,
                                timeout: nonBlocking ? .nonBlocking : .blocking)
        let reader = try BufferedReader(SocketIO(socket, mode: "rb"), bufferSize: bufferSize)
        reader.timeoutPolicy = .resumable
        file = TextIOWrapper(reader: reader, writer: nil, encoding: latin1 ? .latin1 : .utf8,
                             errors: strict ? .strict : .replace, newline: newline, mode: "r")
        reference = TextReference(stream, latin1: latin1, strict: strict, translate: newline == .universal)
    }

    mutating func run() async throws {
        checkDecoder()
        var index = 0
        while index + 1 < operations.count {
            let (operation, argument) = (operations[index], Int(operations[index + 1]))
            index += 2
            do {
                switch operation % 4 {
                case 0: try await read(argument % 20 - 1)
                case 1: try await readLine(limit: argument % 20 - 1)
                case 2: try await readLines(hint: argument % 20 - 1)
                default: try await nextLine()
                }
            } catch let error as IOError {
                try expected(error)
            }
        }
        try await drain()
        try await file.close()
    }

    /// Timeouts are scripted, would-block is normal in non-blocking mode, and decode errors are
    /// counted against the reference; anything else is a finding.
    private mutating func expected(_ error: IOError) throws {
        switch error.kind {
        case .timedOut: break
        case .wouldBlock: check(nonBlocking, "wouldBlock in blocking mode")
        case .decodingFailed: failures += 1
        default: throw error
        }
    }

    private mutating func drain() async throws {
        var attempts = 0
        while true {
            attempts += 1
            check(attempts < 100_000, "drain does not progress")
            do {
                guard let chunk = try await file.read() else {
                    check(nonBlocking, "read() returned nil in blocking mode")
                    continue
                }
                if chunk.isEmpty { break }
                append(chunk, "drain")
            } catch let error as IOError {
                try expected(error)
            }
        }
        check(text == reference.scalars,
              "text differs from the reference: \(text.count) scalars read, \(reference.scalars.count) expected")
        check(failures == reference.failures, "\(failures) decode errors, \(reference.failures) expected")
    }

    private mutating func append(_ chunk: String, _ what: String) {
        check(!sawLastLine || chunk.isEmpty, "\(what): text after a line without line ending")
        text += chunk.unicodeScalars
        // Compared as a prefix now, so that a mismatch is reported at the call that caused it.
        check(text.count <= reference.scalars.count && reference.scalars[..<text.count].elementsEqual(text),
              "\(what): text does not continue the reference at \(text.count - chunk.unicodeScalars.count)")
    }

    private mutating func read(_ count: Int) async throws {
        guard let chunk = try await file.read(count) else { return check(nonBlocking, "read: nil when blocking") }
        if count >= 0 { check(chunk.unicodeScalars.count <= count, "read(\(count)) returned too much") }
        append(chunk, "read(\(count))")
    }

    private mutating func readLine(limit: Int) async throws {
        guard let line = try await file.readLine(limit: limit) else { return check(nonBlocking, "readLine: nil when blocking") }
        checkLine(line, limit: limit)
    }

    private mutating func readLines(hint: Int) async throws {
        guard let lines = try await file.readLines(hint: hint) else { return check(nonBlocking, "readLines: nil when blocking") }
        for line in lines {
            check(!line.isEmpty, "readLines: empty line")
            checkLine(line, limit: -1)
        }
    }

    private mutating func nextLine() async throws {
        var iterator = file.lines.makeAsyncIterator()
        guard let line = try await iterator.next() else { return }
        check(!line.isEmpty, "lines: empty element")
        checkLine(line, limit: -1)
    }

    /// A line holds one line ending, at its end — unless the limit cut it or it is the last line.
    private mutating func checkLine(_ line: String, limit: Int) {
        let scalars = Array(line.unicodeScalars)
        if limit >= 0 { check(scalars.count <= limit, "readLine(limit: \(limit)) returned \(scalars.count)") }
        let end = Self.firstLineLength(scalars, newline)
        check(end == nil || end == scalars.count, "line ending inside a line")
        append(line, "readLine(limit: \(limit))")
        let cut = limit >= 0 && scalars.count == limit
        if end == nil && !cut && !scalars.isEmpty { sawLastLine = true }
    }

    /// The length through the first line ending of `scalars` in `mode` (nil if there is none).
    static func firstLineLength(_ scalars: [Unicode.Scalar], _ mode: NewlineMode) -> Int? {
        for (index, scalar) in scalars.enumerated() {
            let next = index + 1 < scalars.count ? scalars[index + 1] : nil
            switch (mode, scalar) {
            case (.universal, "\n"), (.lf, "\n"), (.universalUntranslated, "\n"), (.cr, "\r"):
                return index + 1
            case (.universalUntranslated, "\r"):
                return next == "\n" ? index + 2 : index + 1
            case (.crlf, "\r") where next == "\n":
                return index + 2
            default:
                continue
            }
        }
        return nil
    }

    /// The bare decoder, fed the plan's chunks (then the rest), must produce the reference too.
    private func checkDecoder() {
        var decoder = TextDecoder(encoding: file.encoding, policy: file.errors)
        var output: [Unicode.Scalar] = []
        var failures = 0
        var offset = 0
        func decode(final: Bool) {
            while let failure = decoder.decode(into: &output, final: final) {
                failures += 1
                check(failure.error.kind == .decodingFailed && failure.length > 0, "bad decoding failure")
                decoder.discard(failure)
            }
        }
        let stream = socket.stream
        for chunk in chunks + [stream.count] where offset < stream.count {
            let end = min(stream.count, offset + chunk)
            decoder.feed(Array(stream[offset..<end]))
            offset = end
            decode(final: false)
        }
        decode(final: true)
        check(!decoder.hasUndecodedBytes, "decoder kept bytes after the final decode")
        let expected = newline == .universal ? TextReference.translatingNewlines(output) : output
        check(expected == reference.scalars, "TextDecoder differs from the reference")
        check(failures == reference.failures, "TextDecoder: \(failures) failures, \(reference.failures) expected")
    }
}
