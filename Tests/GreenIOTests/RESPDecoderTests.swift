import Testing
@testable import GreenIO
@testable import GreenIORESP

/// `RESPDecoder`, GreenIORESP's one parser of the request grammar: whole commands, empty ones,
/// every error with its message, and the same result however the stream is cut into arrivals.
@Suite("RESP decoder", .timeLimit(.minutes(1)))
struct RESPDecoderTests {
    private let decoder = RESPDecoder(maxLine: 64, maxBulk: 32)

    /// One call on `text` with a fresh decoder.
    private func decode(_ text: String) -> RESPDecoding {
        var decoder = decoder
        return Array(text.utf8).withUnsafeBytes { decoder.decode($0) }
    }

    private func words(_ list: String...) -> [[UInt8]] { list.map { Array($0.utf8) } }

    private func error(_ message: String, quoting quoted: String? = nil) -> RESPDecoding {
        .protocolError(RESPProtocolError(message, quoting: quoted))
    }

    @Test("a complete multibulk or inline command is taken whole; the next one is left in place")
    func completeCommands() {
        let set = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nva\r\nl\r\n"
        #expect(decode(set + "*1\r\n$4\r\nPING\r\n") == .command(arguments: words("SET", "k", "va\r\nl"), consumed: set.utf8.count))
        #expect(decode("GET\tkey  x\n") == .command(arguments: words("GET", "key", "x"), consumed: 11))
        #expect(decode("PING\r\n") == .command(arguments: words("PING"), consumed: 6))
        #expect(decode("*1\n$4\nPING\r\n") == .command(arguments: words("PING"), consumed: 12))
        #expect(decode("*1\r\n$0\r\n\r\n") == .command(arguments: [[]], consumed: 10))
        #expect(decode("$3\r\n") == .command(arguments: words("$3"), consumed: 4))  // Not `*`: an inline command.
    }

    @Test("every proper prefix of a command needs more and uses nothing, from a fresh decoder or a resumed one")
    func prefixesAreIncomplete() {
        let command = Array("*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n".utf8)
        var resumed = decoder
        for end in 0..<command.count {
            var fresh = decoder
            #expect(command[..<end].withUnsafeBytes { fresh.decode($0) } == .needMore(consumed: 0), "prefix of \(end) bytes")
            #expect(command[..<end].withUnsafeBytes { resumed.decode($0) } == .needMore(consumed: 0), "prefix of \(end) bytes")
        }
        #expect(command.withUnsafeBytes { resumed.decode($0) } == .command(arguments: words("GET", "key"), consumed: command.count))
        // Bulk data ends with CRLF: a lone LF after it needs one more byte, which decides.
        #expect(decode("*1\n$4\nPING\n") == .needMore(consumed: 0))
        #expect(decode("*1\n$4\nPING\nx") == error("expected CRLF after a bulk string of 4 bytes"))
    }

    @Test("empty commands are skipped and counted as used, also when nothing follows them")
    func emptyCommands() {
        #expect(decode("\r\n*0\r\n  \n*-1\r\nPING\n") == .command(arguments: words("PING"), consumed: 19))
        #expect(decode("\r\n*0\r\n") == .needMore(consumed: 6))
        #expect(decode("\r\n*1\r\n$4\r\nPI") == .needMore(consumed: 2))
        #expect(decode("") == .needMore(consumed: 0))
    }

    @Test("malformed or over-limit input is a protocol error with the reading path's message")
    func errors() {
        #expect(decode("*x\r\n") == error("invalid multibulk length"))
        #expect(decode("*2000000\r\n") == error("invalid multibulk length"))
        #expect(decode("*99999999999999999999\r\n") == error("invalid multibulk length"))
        #expect(decode("*1\r\n:4\r\n") == error("expected '$'", quoting: ":"))
        #expect(decode("*1\r\n\r\n") == error("expected '$'", quoting: ""))
        #expect(decode("*1\r\n$-1\r\n") == error("invalid bulk length"))
        #expect(decode("*1\r\n$33\r\n") == error("invalid bulk length"))
        #expect(decode("*1\r\n$4\r\nPINGxx") == error("expected CRLF after a bulk string of 4 bytes"))
        #expect(decode("*1\r\n$2\r\nabc\r\n") == error("expected CRLF after a bulk string of 2 bytes"))
        #expect(decode(String(repeating: "a", count: 64) + "\n") == error("line longer than 64 bytes"))
        #expect(decode("*1\r\n$" + String(repeating: "1", count: 70)) == error("line longer than 64 bytes"))
        #expect(error("expected '$'", quoting: "P") == .protocolError(RESPProtocolError("expected '$'", quoting: "P")))
        if case .protocolError(let quoted) = decode("*1\r\nPING\r\n") {
            #expect(quoted.description == "Protocol error: expected '$', got 'P'")
            #expect(quoted.message == "expected '$'")
        }
        // A line is too long once more than maxLine bytes are there without a newline, not before.
        #expect(decode(String(repeating: "a", count: 64)) == .needMore(consumed: 0))
        #expect(decode(String(repeating: "a", count: 65)) == error("line longer than 64 bytes"))
        // Exactly at the limits is accepted.
        if case .command(let arguments, _) = decode(String(repeating: "a", count: 63) + "\n") {
            #expect(arguments.first?.count == 63)
        } else {
            Issue.record("a 64-byte line was refused")
        }
        let fits = "*1\r\n$32\r\n" + String(repeating: "b", count: 32) + "\r\n"
        #expect(decode(fits) == .command(arguments: [Array(repeating: UInt8(ascii: "b"), count: 32)], consumed: fits.utf8.count))
    }

    @Test("every split point of a pipelined batch gives the same commands, consumed counts and end")
    func everySplitPoint() {
        let batch = Array(("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nva\r\nl\r\n\r\n*0\r\nPING\r\nECHO  a\tb\n*-1\r\n"
                          + "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$0\r\n\r\n*1\r\n$4\r\nPI").utf8)
        let whole = Self.decodeStream(batch, pieces: [], decoder)
        #expect(whole.commands.map(\.arguments) == [words("SET", "k", "va\r\nl"), words("PING"), words("ECHO", "a", "b"),
                                                  words("GET", "k"), [[]]])
        #expect(whole.error == nil)
        #expect(whole.consumed == batch.count - 10)  // The cut-short PING stays.
        for split in 0...batch.count {
            #expect(Self.decodeStream(batch, pieces: [split], decoder) == whole, "split at \(split)")
            #expect(Self.decodeStream(batch, pieces: [split], decoder, fresh: true) == whole, "split at \(split), fresh")
        }
        #expect(Self.decodeStream(batch, pieces: Array(repeating: 1, count: batch.count), decoder) == whole)
    }

    @Test("a bulk string of 200 KB arriving byte by byte, and one whose header claims 512 MiB")
    func largeBulkIncrementally() {
        let value = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let stream = bytes("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$200000\r\n") + value + bytes("\r\nPING\r\n")
        let large = RESPDecoder(maxLine: 64, maxBulk: 1 << 20)
        let outcome = Self.decodeStream(stream, pieces: Array(repeating: 1, count: stream.count), large)
        #expect(outcome.commands.map(\.arguments) == [[bytes("SET"), bytes("big"), value], words("PING")])
        #expect(outcome.commands.map(\.end) == [stream.count - 6, stream.count])

        // The header alone asks for nothing: the decoder waits for the data as it arrives.
        var claims = RESPDecoder()
        let header = bytes("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\n")
        var buffer = header
        for _ in 0..<100 {
            #expect(buffer.withUnsafeBytes { claims.decode($0) } == .needMore(consumed: 0))
            buffer += Array(repeating: 120, count: 1000)
        }
        // Given other bytes than those it examined (fewer), it starts over from the first.
        #expect(bytes("PING\n").withUnsafeBytes { claims.decode($0) } == .command(arguments: words("PING"), consumed: 5))
    }

    @Test("missingByteCount: the rest of a bulk string with its CRLF, 1 for a line, 0 after a command")
    func missingBytes() {
        var decoder = decoder
        #expect(bytes("*1\r\n$10\r\nabc").withUnsafeBytes { decoder.decode($0) } == .needMore(consumed: 0))
        #expect(decoder.missingByteCount == 9)
        #expect(bytes("*1\r\n$10\r\nabcdefghij\r").withUnsafeBytes { decoder.decode($0) } == .needMore(consumed: 0))
        #expect(decoder.missingByteCount == 1)
        #expect(bytes("*1\r\n$10\r\nabcdefghij\r\nPI").withUnsafeBytes { decoder.decode($0) }
                    == .command(arguments: words("abcdefghij"), consumed: 21))
        #expect(decoder.missingByteCount == 0)
        #expect(bytes("PI").withUnsafeBytes { decoder.decode($0) } == .needMore(consumed: 0))
        #expect(decoder.missingByteCount == 1)
        var huge = RESPDecoder(maxBulk: .max)
        #expect(bytes("*1\r\n$9223372036854775807\r\n").withUnsafeBytes { huge.decode($0) } == .needMore(consumed: 0))
        #expect(huge.missingByteCount == .max)
    }

    @Test("errors are found at the same place however the stream arrives")
    func errorsIncrementally() {
        for text in ["PING\r\n*x\r\n", "*1\r\n:4\r\n", "*2\r\n$1\r\na\r\n$33\r\n", "*1\r\n$4\r\nPINGxx",
                     "ECHO a\r\n" + String(repeating: "a", count: 65), "*1\r\n$" + String(repeating: "1", count: 70)] {
            let stream = bytes(text)
            let whole = Self.decodeStream(stream, pieces: [], decoder)
            #expect(whole.error != nil, "\(text.debugDescription)")
            #expect(Self.decodeStream(stream, pieces: Array(repeating: 1, count: stream.count), decoder) == whole)
        }
    }

    @Test("differential: 400 seeded random and mutated streams decode alike whole, in random pieces, byte by byte and with fresh decoders")
    func chunkingDoesNotMatter() {
        var seeds = SplitMix64(seed: 0x7E5B)
        var commands = 0
        var errors = 0
        for _ in 0..<400 {
            let seed = seeds.next()
            var random = SplitMix64(seed: seed)
            let stream = Self.randomStream(&random)
            let whole = Self.decodeStream(stream, pieces: [], decoder)
            commands += whole.commands.count
            if whole.error != nil { errors += 1 }
            let pieces = (0..<8).map { _ in Int.random(in: 1...12, using: &random) }
            #expect(Self.decodeStream(stream, pieces: pieces, decoder) == whole, "seed \(seed)")
            #expect(Self.decodeStream(stream, pieces: pieces, decoder, fresh: true) == whole, "seed \(seed), fresh")
            #expect(Self.decodeStream(stream, pieces: Array(repeating: 1, count: stream.count), decoder) == whole, "seed \(seed)")
        }
        // Both commands and errors must have been compared.
        #expect(commands >= 200 && errors >= 20, "\(commands) commands and \(errors) errors in 400 streams")
    }

    /// What one decoder makes of a stream.
    struct Outcome: Equatable {
        /// Each command and the stream offset just past it.
        var commands: [(arguments: [[UInt8]], end: Int)] = []
        /// The protocol error that stopped it, if any.
        var error: RESPProtocolError?
        /// The bytes consumed in all (compared only when it ends without an error: empty commands
        /// before an error may or may not have been consumed).
        var consumed = 0

        static func == (a: Outcome, b: Outcome) -> Bool {
            a.commands.map(\.arguments) == b.commands.map(\.arguments) && a.commands.map(\.end) == b.commands.map(\.end)
                && a.error == b.error && (a.error != nil || a.consumed == b.consumed)
        }
    }

    /// Feeds `stream` to a decoder as a reader's buffer would hold it: the unconsumed bytes, with
    /// each arrival (`pieces` gives their sizes, the rest arrives last) appended, decoded until it
    /// needs more. `fresh`: a new decoder for every call (no resumed state).
    static func decodeStream(_ stream: [UInt8], pieces: [Int], _ decoder: RESPDecoder, fresh: Bool = false) -> Outcome {
        var current = decoder
        var outcome = Outcome()
        var buffer: [UInt8] = []
        var delivered = 0
        var sizes = pieces[...]
        while true {
            while true {
                if fresh { current = decoder }
                let decoding = buffer.withUnsafeBytes { current.decode($0) }
                buffer.removeFirst(decoding.consumed)
                outcome.consumed += decoding.consumed
                switch decoding {
                case .command(let arguments, _): outcome.commands.append((arguments, outcome.consumed))
                case .needMore: break
                case .protocolError(let error):
                    outcome.error = error
                    return outcome
                }
                if case .needMore = decoding { break }
            }
            if delivered == stream.count { return outcome }
            let size = min(sizes.popFirst() ?? stream.count, stream.count - delivered)
            buffer += stream[delivered..<(delivered + size)]
            delivered += size
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
