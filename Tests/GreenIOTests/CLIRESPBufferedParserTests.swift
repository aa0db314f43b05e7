import Testing
@testable import GreenIO
@testable import greenio

/// `RESPBufferedParser`, the in-place fast path of `greenio serve --protocol resp`: it must take
/// exactly the commands the reading path (`RESPCommandReader.next`) takes, with the same
/// arguments, and leave everything else to that path.
@Suite("CLI RESP buffered parser", .timeLimit(.minutes(1)))
struct CLIRESPBufferedParserTests {
    private let parser = RESPBufferedParser(maxLine: 64, maxBulk: 32)

    private func parse(_ text: String) -> (consumed: Int, value: [[UInt8]]?) {
        Array(text.utf8).withUnsafeBytes { parser.command(in: $0) }
    }

    private func words(_ list: String...) -> [[UInt8]] { list.map { Array($0.utf8) } }

    @Test("a complete multibulk or inline command is taken whole; the next one is left in place")
    func completeCommands() {
        let set = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nva\r\nl\r\n"
        let parsed = parse(set + "*1\r\n$4\r\nPING\r\n")
        #expect(parsed.value == words("SET", "k", "va\r\nl"))
        #expect(parsed.consumed == set.utf8.count)
        #expect(parse("GET\tkey  x\n").value == words("GET", "key", "x"))
        #expect(parse("PING\r\n").consumed == 6)
        #expect(parse("*1\n$4\nPING\r\n").value == words("PING"))
        #expect(parse("*1\n$4\nPING\n").value == nil)  // Bulk data ends with CRLF, as the reading path requires.
        #expect(parse("*1\r\n$0\r\n\r\n").value == [[]])
    }

    @Test("every proper prefix of a command is left untouched")
    func prefixesAreIncomplete() {
        let command = "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"
        for end in 0..<command.utf8.count {
            let prefix = String(decoding: Array(command.utf8)[..<end], as: UTF8.self)
            let parsed = parse(prefix)
            #expect(parsed.value == nil && parsed.consumed == 0, "prefix of \(end) bytes")
        }
    }

    @Test("empty commands are skipped and counted as used, also when nothing follows them")
    func emptyCommands() {
        #expect(parse("\r\n*0\r\n  \n*-1\r\nPING\n").value == words("PING"))
        #expect(parse("\r\n*0\r\n").consumed == 6)
        #expect(parse("\r\n*0\r\n").value == nil)
        #expect(parse("\r\n*1\r\n$4\r\nPI").consumed == 2)
    }

    @Test("malformed or over-limit input is left for the reading path to report")
    func leavesErrorsAlone() {
        for text in ["*x\r\n", "*1\r\n:4\r\n", "*1\r\n$-1\r\n", "*1\r\n$33\r\n" + String(repeating: "a", count: 33) + "\r\n",
                     "*1\r\n$4\r\nPINGxx", String(repeating: "a", count: 64) + "\n", "*1\r\n$2\r\nabc\r\n",
                     "*2000000\r\n"] {
            let parsed = parse(text)
            #expect(parsed.value == nil && parsed.consumed == 0, "\(text.prefix(20).debugDescription)")
        }
        // Exactly at the limits is accepted.
        #expect(parse(String(repeating: "a", count: 63) + "\n").value?.first?.count == 63)
        #expect(parse("*1\r\n$32\r\n" + String(repeating: "b", count: 32) + "\r\n").value?.first?.count == 32)
    }

    @Test("differential: random streams of valid and mutated commands give the reading path's arguments (400 seeded cases)")
    func agreesWithReadingPath() async throws {
        try await onHub(limit: .seconds(50)) {
            var seeds = SplitMix64(seed: 0x7E5B)
            var compared = 0
            for _ in 0..<400 {
                let seed = seeds.next()
                var random = SplitMix64(seed: seed)
                let input = Self.randomStream(&random)
                let fast = input.withUnsafeBytes { parser.command(in: $0) }
                guard let arguments = fast.value else { continue }
                compared += 1
                // The reading path over a real socket, given the same bytes and then the end of the stream.
                let (a, b) = try Socket.pair()
                defer { a.close(); b.close() }
                try await b.sendAll(input)
                try b.shutdown(.write)
                let file = try a.makeReadWritePair()
                defer { file.reader.close() }
                let reader = RESPCommandReader(file: file, connection: a, maxLine: parser.maxLine, maxBulk: parser.maxBulk)
                let slow = try await reader.next(deadline: .after(.seconds(5)))
                #expect(slow == arguments, "seed \(seed): \(String(decoding: input, as: UTF8.self).debugDescription)")
                #expect(input.count - file.reader.bufferedByteCount == fast.consumed,
                        "seed \(seed): the paths used different amounts of input")
            }
            // Most streams start with a valid command: the comparison must have happened.
            #expect(compared >= 150, "only \(compared) of 400 streams compared")
        }
    }

    /// A few commands (multibulk or inline, some empty) with random mutations: a changed, dropped
    /// or inserted byte here and there.
    private static func randomStream(_ random: inout SplitMix64) -> [UInt8] {
        var out: [UInt8] = []
        for _ in 0..<Int.random(in: 1...3, using: &random) {
            switch Int.random(in: 0..<4, using: &random) {
            case 0:
                let words = (0..<Int.random(in: 0...3, using: &random)).map { _ in randomWord(&random, allowEmpty: false) }
                out += Array(words.map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ").utf8)
                out += Bool.random(using: &random) ? [13, 10] : [10]
            default:
                let count = Int.random(in: 0...4, using: &random)
                out += Array("*\(count)\r\n".utf8)
                for _ in 0..<count {
                    let word = randomWord(&random, allowEmpty: true)
                    out += Array("$\(word.count)\r\n".utf8) + word + [13, 10]
                }
            }
        }
        for _ in 0..<Int.random(in: 0...2, using: &random) where !out.isEmpty {
            let at = Int.random(in: 0..<out.count, using: &random)
            let choices: [UInt8] = [13, 10, 32, UInt8(ascii: "$"), UInt8(ascii: "*"), UInt8(ascii: "1"), 0xFF]
            let byte = choices.randomElement(using: &random) ?? 0
            switch Int.random(in: 0..<3, using: &random) {
            case 0: out[at] = byte
            case 1: out.remove(at: at)
            default: out.insert(byte, at: at)
            }
        }
        return out
    }

    private static func randomWord(_ random: inout SplitMix64, allowEmpty: Bool) -> [UInt8] {
        let length = Int.random(in: (allowEmpty ? 0 : 1)...40, using: &random)
        return (0..<length).map { _ in
            allowEmpty ? UInt8.random(in: 0...255, using: &random) : UInt8.random(in: 33...126, using: &random)
        }
    }
}
