import Testing
@testable import GreenIO

/// Property tests: how the bytes are split into reads (and where the socket would block) never
/// changes what the text layer returns; long lines cost linear time.
@Suite("Text chunking properties", .timeLimit(.minutes(1)))
struct TextChunkingTests {
    static let modes: [NewlineMode] = [.universal, .universalUntranslated, .lf, .crlf, .cr]
    /// Line-ending characters are frequent so that chunk boundaries fall inside `\r\n`; the others
    /// are 1, 2, 3 and 4 bytes long in UTF-8.
    static let alphabet: [Unicode.Scalar] = ["a", "b", "\r", "\n", "\r", "\n", "\u{E9}", "\u{20AC}", "\u{1234}", "\u{1F600}"]

    @Test("Random text in random chunkings (1-byte, whole, random cuts, would-block between) gives the reference lines",
          arguments: modes)
    func chunkingsGiveReferenceLines(mode: NewlineMode) async throws {
        var random = SplitMix64(seed: 0x5EED_0000 + UInt64(Self.modes.firstIndex(of: mode) ?? 0))
        for _ in 0..<150 {
            let text = (0..<Int.random(in: 0...40, using: &random)).map { _ in
                Self.alphabet[Int.random(in: 0..<Self.alphabet.count, using: &random)]
            }
            let data = Array(String(String.UnicodeScalarView(text)).utf8)
            let expected = referenceLines(text, mode)
            let context = "text \(text.map { $0.escaped(asASCII: true) }.joined()) mode \(mode)"

            for chunks in [[data], data.map { [$0] }, randomCuts(data, &random)] {
                let lines = try await allLines(textReader(chunks, newline: mode))
                #expect(lines.map(scalars) == expected, "\(context) chunks \(chunks)")
            }

            // Non-blocking: would-block between chunks; readLine gives nil until a line is complete.
            var steps: [ReadStep] = []
            for chunk in randomCuts(data, &random) {
                steps.append(.bytes(chunk))
                if Bool.random(using: &random) { steps.append(.wouldBlock) }
            }
            let nonBlocking = TextIOWrapper(reader: ScriptedReader(steps), writer: nil, newline: mode, mode: "r")
            var polled: [[Unicode.Scalar]] = []
            var calls = 0
            while calls < 10_000 {
                calls += 1
                guard let line = try await nonBlocking.readLine() else { continue }
                if line.isEmpty { break }
                polled.append(scalars(line))
            }
            #expect(polled == expected, "\(context) (non-blocking)")

            // read(k) with random k gives the same text in one piece.
            let pieces = textReader(randomCuts(data, &random), newline: mode)
            var whole: [Unicode.Scalar] = []
            while true {
                let count = Int.random(in: 1...5, using: &random)
                let piece = try #require(try await pieces.read(count))
                if piece.isEmpty { break }
                #expect(piece.unicodeScalars.count <= count)
                whole += piece.unicodeScalars
            }
            #expect(whole == Array(expected.joined()), "\(context) (read(k))")

            // readLine(limit:) returns pieces of at most `limit` that add up to the same text.
            let limited = textReader(randomCuts(data, &random), newline: mode)
            var joined: [Unicode.Scalar] = []
            while true {
                let limit = Int.random(in: 1...4, using: &random)
                let piece = try #require(try await limited.readLine(limit: limit))
                if piece.isEmpty { break }
                #expect(piece.unicodeScalars.count <= limit)
                joined += piece.unicodeScalars
            }
            #expect(joined == Array(expected.joined()), "\(context) (readLine(limit:))")
        }
    }

    @Test("The reference splitter agrees with the CPython table (so the property above checks Python's rules)")
    func referenceMatchesTable() {
        for (mode, lines) in TextNewlineTests.table {
            #expect(referenceLines(scalars("a\r\nb\rc\nd"), mode) == lines.map(scalars))
        }
    }

    @Test("A 1 MiB line fed one byte per read completes (linear scanning)", arguments: [NewlineMode.universal, .crlf])
    func longLineOneBytePerRead(mode: NewlineMode) async throws {
        let size = 1 << 20
        let data = [UInt8](repeating: UInt8(ascii: "x"), count: size) + bytes("\r\ntail")
        let file = TextIOWrapper(reader: DripReader(data), writer: nil, newline: mode, mode: "r")
        let line = try #require(try await file.readLine())
        #expect(line.unicodeScalars.count == size + (mode == .universal ? 1 : 2))
        #expect(try await file.readLine() == "tail")
    }

    @Test("A 1 MiB line polled in non-blocking mode (nil after every byte) completes (no rescanning)")
    func longLinePolled() async throws {
        let size = 1 << 20
        var steps: [ReadStep] = []
        steps.reserveCapacity(2 * size + 2)
        for _ in 0..<size {
            steps.append(.bytes([UInt8(ascii: "y")]))
            steps.append(.wouldBlock)
        }
        steps.append(.bytes(bytes("\n")))
        let file = TextIOWrapper(reader: ScriptedReader(steps), writer: nil, newline: .lf, mode: "r")
        var nils = 0
        while true {
            guard let line = try await file.readLine() else {
                nils += 1
                continue
            }
            #expect(line.unicodeScalars.count == size + 1)
            break
        }
        #expect(nils == size)
    }

    /// `data` cut at random places (possibly inside characters and inside `\r\n`).
    func randomCuts(_ data: [UInt8], _ random: inout SplitMix64) -> [[UInt8]] {
        var chunks: [[UInt8]] = []
        var start = 0
        while start < data.count {
            let length = Int.random(in: 1...4, using: &random)
            chunks.append(Array(data[start..<min(start + length, data.count)]))
            start += length
        }
        return chunks
    }
}

/// Python's line splitting of a whole text for a newline mode, written independently of the
/// incremental implementation: translate first (universal mode only), then cut after each line
/// ending.
func referenceLines(_ text: [Unicode.Scalar], _ mode: NewlineMode) -> [[Unicode.Scalar]] {
    var source = text
    if mode == .universal {
        source = []
        var index = 0
        while index < text.count {
            if text[index] == "\r" {
                source.append("\n")
                if index + 1 < text.count && text[index + 1] == "\n" { index += 1 }
            } else {
                source.append(text[index])
            }
            index += 1
        }
    }
    var lines: [[Unicode.Scalar]] = []
    var current: [Unicode.Scalar] = []
    var index = 0
    while index < source.count {
        let scalar = source[index]
        current.append(scalar)
        let nextIsLineFeed = index + 1 < source.count && source[index + 1] == "\n"
        var ends = false
        switch mode {
        case .universal, .lf: ends = scalar == "\n"
        case .cr: ends = scalar == "\r"
        case .universalUntranslated:
            if scalar == "\r" && nextIsLineFeed {
                current.append("\n")
                index += 1
            }
            ends = scalar == "\r" || scalar == "\n"
        case .crlf:
            if scalar == "\r" && nextIsLineFeed {
                current.append("\n")
                index += 1
                ends = true
            }
        }
        if ends {
            lines.append(current)
            current = []
        }
        index += 1
    }
    if !current.isEmpty { lines.append(current) }
    return lines
}
