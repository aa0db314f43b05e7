import Foundation
import Testing
@testable import GreenIO

/// The reference: what each call must return, computed on the unchunked stream.
private struct StreamModel {
    let stream: [UInt8]
    var position = 0

    var remaining: Int { stream.count - position }
    var atEnd: Bool { position == stream.count }

    /// Through the first `separator` that ends within `limit` bytes (-1: any), else `limit` bytes,
    /// else the rest.
    func through(_ separator: [UInt8], limit: Int = -1) -> Int {
        let bound = limit < 0 ? remaining : Swift.min(limit, remaining)
        var index = position
        while index + separator.count <= position + bound {
            if stream[index] == separator[0] && stream[index..<(index + separator.count)].elementsEqual(separator) {
                return index + separator.count - position
            }
            index += 1
        }
        return bound
    }

    mutating func take(_ count: Int) -> [UInt8] {
        defer { position += count }
        return Array(stream[position..<(position + count)])
    }

    mutating func line(limit: Int = -1) -> [UInt8] { take(through([10], limit: limit)) }

    /// The lines `readLines(hint:)` returns when everything has arrived.
    mutating func lines(hint: Int) -> [[UInt8]] {
        var result: [[UInt8]] = []
        var total = 0
        while !atEnd {
            let next = line()
            result.append(next)
            total += next.count
            if hint > 0 && total > hint { break }
        }
        return result
    }

    /// Whether `bytes` continue the stream here (without consuming them).
    func continues(with bytes: [UInt8]) -> Bool {
        bytes.count <= remaining && stream[position..<(position + bytes.count)].elementsEqual(bytes)
    }
}

/// How a case reads the stream.
private enum Style: CaseIterable {
    case readLine, read, readLines, lines, mixed
}

/// One generated case.
private struct PropertyCase: CustomStringConvertible {
    let seed: UInt64
    let stream: [UInt8]
    let lineCount: Int
    let chunks: [Int]
    let bufferSize: Int
    let nonBlocking: Bool
    let style: Style

    var description: String {
        let sizes = chunks.prefix(12).map(String.init).joined(separator: ",") + (chunks.count > 12 ? ",…" : "")
        return "case seed \(seed): style \(style), buffer \(bufferSize), \(nonBlocking ? "non-blocking" : "blocking"), "
            + "\(lineCount) lines, \(stream.count) bytes in \(chunks.count) chunks [\(sizes)]"
    }

    init(seed: UInt64) {
        self.seed = seed
        var rng = SplitMix64(seed: seed)
        let pieces = ["é", "€", "𝄞", "ሴ", "ü", "a", "b", " ", "\r", "\t", "0"]
        var stream: [UInt8] = []
        let lineCount = Int.random(in: 0...3, using: &rng) == 0 ? Int.random(in: 0...2, using: &rng)
            : Int.random(in: 1...24, using: &rng)
        for index in 0..<lineCount {
            var line = ""
            switch Int.random(in: 0..<10, using: &rng) {
            case 0, 1:
                break  // an empty line
            case 2:
                let length = Int.random(in: 300...4096, using: &rng)
                line = String(repeating: pieces.randomElement(using: &rng)!, count: length / 3)
                    + String((0..<Int.random(in: 0...40, using: &rng)).map { _ in "xyz€𝄞".randomElement(using: &rng)! })
            case 3, 4, 5:
                line = String((0..<Int.random(in: 1...30, using: &rng)).map { _ in Character(pieces.randomElement(using: &rng)!) })
            default:
                line = String((0..<Int.random(in: 1...60, using: &rng)).map { _ in
                    "abcdefghijklmnopqrstuvwxyz ".randomElement(using: &rng)!
                })
            }
            let last = index == lineCount - 1
            let terminator = last && Bool.random(using: &rng) ? "" : (Bool.random(using: &rng) ? "\n" : "\r\n")
            stream += Array((line + terminator).utf8)
        }
        self.stream = stream
        self.lineCount = lineCount

        // Chunk boundaries: all single bytes, small pieces, mixed sizes, or cuts placed inside every
        // \r\n and every multi-byte UTF-8 sequence plus random ones.
        var cuts = Set<Int>()
        switch Int.random(in: 0..<5, using: &rng) {
        case 0 where stream.count <= 1500:
            cuts = Set(0...stream.count)
        case 1:
            var at = 0
            while at < stream.count {
                at += Int.random(in: 1...8, using: &rng)
                cuts.insert(Swift.min(at, stream.count))
            }
        case 2:
            for (index, byte) in stream.enumerated() {
                if byte == 13 || (0xC0...0xF7).contains(byte) { cuts.insert(index + 1) }
                if Int.random(in: 0..<40, using: &rng) == 0 { cuts.insert(index) }
            }
        case 3:
            break  // one chunk: the unchunked stream itself
        default:
            var at = 0
            while at < stream.count {
                at += Int.random(in: 1...Swift.max(1, stream.count / 3), using: &rng)
                cuts.insert(Swift.min(at, stream.count))
            }
        }
        cuts.insert(0)
        cuts.insert(stream.count)
        let sorted = cuts.filter { $0 >= 0 && $0 <= stream.count }.sorted()
        chunks = zip(sorted, sorted.dropFirst()).map { $1 - $0 }.filter { $0 > 0 }
        bufferSize = Int.random(in: 0..<5, using: &rng) == 0 ? defaultBufferSize : Int.random(in: 1...64, using: &rng)
        nonBlocking = Int.random(in: 0..<4, using: &rng) == 0
        style = Style.allCases.randomElement(using: &rng)!
    }
}

/// A mismatch between the reader and the model.
private struct PropertyFailure: Error, CustomStringConvertible {
    let description: String
}

/// Reads the whole case's stream through a `BufferedReader` on a real socketpair while a writer
/// green thread sends the chunks, comparing every result with the model. Throws `PropertyFailure`.
private func run(_ testCase: PropertyCase) async throws {
    let (a, b) = try Socket.pair()
    defer { a.close(); b.close() }
    if testCase.nonBlocking { try a.setTimeout(.nonBlocking) }
    let reader = try #require(try a.makefile("rb", buffering: testCase.bufferSize).reader)
    defer { reader.close() }
    let stream = testCase.stream
    let chunks = testCase.chunks
    let writer = Hub.current!.spawn {
        var offset = 0
        for (index, size) in chunks.enumerated() {
            try await b.sendAll(Array(stream[offset..<(offset + size)]))
            offset += size
            for _ in 0...(index % 2) { try await Hub.yield() }
        }
        b.close()
    }
    defer { writer.cancel() }

    var model = StreamModel(stream: stream)
    var rng = SplitMix64(seed: testCase.seed ^ 0x5EED)
    var log: [String] = []
    func fail(_ what: String) -> PropertyFailure {
        PropertyFailure(description: "\(testCase)\n  after: \(log.suffix(8).joined(separator: "; "))\n  \(what)")
    }
    /// Calls `operation` until it gives a value (non-blocking mode: nil means "try again later").
    func poll<T>(_ name: String, _ operation: () async throws -> T?) async throws -> T {
        log.append(name)
        for _ in 0..<200_000 {
            if let value = try await operation() { return value }
            guard testCase.nonBlocking else { throw fail("\(name) returned nil in blocking mode") }
            try await Hub.yield()
        }
        throw fail("\(name) kept returning nil")
    }
    func expectExact(_ got: [UInt8], _ expected: [UInt8], _ name: String) throws {
        if got != expected {
            throw fail("\(name): got \(got.count) bytes \(String(decoding: got.prefix(60), as: UTF8.self).debugDescription), "
                + "expected \(expected.count) bytes \(String(decoding: expected.prefix(60), as: UTF8.self).debugDescription)")
        }
    }
    /// A result that may be any non-empty prefix of at most `maximum` bytes (empty only at the end).
    func expectPrefix(_ got: [UInt8], maximum: Int, _ name: String) throws {
        let valid = model.atEnd ? got.isEmpty
            : !got.isEmpty && got.count <= maximum && model.continues(with: got)
        if !valid {
            throw fail("\(name): got \(got.count) bytes \(String(decoding: got.prefix(60), as: UTF8.self).debugDescription), "
                + "not a continuation of at most \(maximum) bytes (\(model.remaining) remain)")
        }
    }

    switch testCase.style {
    case .readLine:
        while true {
            let line = try await poll("readLine") { try await reader.readLine() }
            try expectExact(line, model.line(), "readLine")
            if line.isEmpty { break }
        }
    case .read:
        while true {
            let n = Int.random(in: 0..<8, using: &rng) == 0 ? Int.random(in: 0...3, using: &rng)
                : Int.random(in: 1...600, using: &rng)
            let got = try await poll("read(\(n))") { try await reader.read(n) }
            if testCase.nonBlocking && n > 0 {
                try expectPrefix(got, maximum: n, "read(\(n))")
                _ = model.take(got.count)
            } else {
                try expectExact(got, model.take(Swift.min(n, model.remaining)), "read(\(n))")
            }
            if got.isEmpty && n > 0 { break }
        }
    case .readLines:
        let hint = Int.random(in: 0..<3, using: &rng) == 0 ? -1 : Int.random(in: 0...200, using: &rng)
        while true {
            let batch = try await poll("readLines(hint: \(hint))") { try await reader.readLines(hint: hint) }
            var copy = model
            let full = copy.lines(hint: hint)
            if testCase.nonBlocking {
                // Would-block may end a batch early; each line is still exact.
                if batch.count > full.count || (batch.isEmpty != full.isEmpty) {
                    throw fail("readLines(hint: \(hint)): \(batch.count) lines, expected at most \(full.count)")
                }
                for line in batch { try expectExact(line, model.line(), "readLines line") }
            } else {
                if batch != full { throw fail("readLines(hint: \(hint)): \(batch.count) lines, expected \(full.count)") }
                _ = model.lines(hint: hint)
            }
            if batch.isEmpty { break }
        }
    case .lines:
        var finished = false
        var attempts = 0
        while !finished {
            attempts += 1
            if attempts > 200_000 { throw fail("the line sequence never finished") }
            do {
                log.append("lines")
                for try await line in reader.lines {
                    try expectExact(line, model.line(), "lines element")
                }
                finished = true
            } catch let error as IOError where error.kind == .wouldBlock && testCase.nonBlocking {
                try await Hub.yield()
            }
        }
        if !model.atEnd { throw fail("the line sequence ended with \(model.remaining) bytes unread") }
    case .mixed:
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 700, alignment: 1)
        defer { buffer.deallocate() }
        while true {
            let wasAtEnd = model.atEnd
            switch Int.random(in: 0..<8, using: &rng) {
            case 0:
                let line = try await poll("readLine") { try await reader.readLine() }
                try expectExact(line, model.line(), "readLine")
            case 1:
                let limit = Int.random(in: 1...80, using: &rng)
                let line = try await poll("readLine(limit: \(limit))") { try await reader.readLine(limit: limit) }
                try expectExact(line, model.line(limit: limit), "readLine(limit: \(limit))")
            case 2:
                let n = Int.random(in: 1...300, using: &rng)
                let got = try await poll("read(\(n))") { try await reader.read(n) }
                if testCase.nonBlocking {
                    try expectPrefix(got, maximum: n, "read(\(n))")
                    _ = model.take(got.count)
                } else {
                    try expectExact(got, model.take(Swift.min(n, model.remaining)), "read(\(n))")
                }
            case 3:
                let n = Int.random(in: 1...100, using: &rng)
                let got = try await poll("read1(\(n))") { try await reader.read1(n) }
                try expectPrefix(got, maximum: n, "read1(\(n))")
                _ = model.take(got.count)
            case 4:
                let got = try await poll("peek") { try await reader.peek() }
                try expectPrefix(got, maximum: Int.max, "peek")
            case 5:
                let n = Int.random(in: 1...700, using: &rng)
                let destination = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<n])
                let count = try await poll("readInto(\(n))") { try await reader.readInto(destination) }
                let got = Array(destination[0..<count])
                if testCase.nonBlocking {
                    try expectPrefix(got, maximum: n, "readInto(\(n))")
                    _ = model.take(got.count)
                } else {
                    try expectExact(got, model.take(Swift.min(n, model.remaining)), "readInto(\(n))")
                }
            case 6:
                let got = try await poll("read(until: CRLF)") { try await reader.read(until: [13, 10]) }
                try expectExact(got, model.take(model.through([13, 10])), "read(until: CRLF)")
            default:
                let n = Int.random(in: 1...100, using: &rng)
                let destination = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<n])
                let count = try await poll("readInto1(\(n))") { try await reader.readInto1(destination) }
                let got = Array(destination[0..<count])
                try expectPrefix(got, maximum: n, "readInto1(\(n))")
                _ = model.take(got.count)
            }
            if wasAtEnd { break }
        }
    }
    // Everything consumed; the end of the stream stays the end.
    if !model.atEnd { throw fail("\(model.remaining) bytes never returned") }
    try expectExact(try await poll("final readLine") { try await reader.readLine() }, [], "final readLine")
    try expectExact(try await poll("final read") { try await reader.read() }, [], "final read")
    if reader.bufferedByteCount != 0 { throw fail("\(reader.bufferedByteCount) bytes left in the buffer") }
    try await writer.value
}

/// The property the issue asks for: however the byte stream is cut into chunks, and whatever the
/// buffer size, readLine, read(n), readLines and the lines sequence give the same results as on the
/// unchunked stream.
@Suite("Buffered reader property", .timeLimit(.minutes(1)))
struct BufferedPropertyTests {
    @Test("Property: random lines (empty, \\r\\n, long, non-ASCII) in random chunkings and buffer sizes read back exactly as the unchunked stream")
    func chunkingDoesNotMatter() async throws {
        let environment = ProcessInfo.processInfo.environment
        let baseSeed = environment["GREENIO_PROPERTY_SEED"].flatMap { UInt64($0) } ?? 0x6772_6565_6E69_6F21
        let caseCount = environment["GREENIO_PROPERTY_CASES"].flatMap { Int($0) } ?? 400
        let only = environment["GREENIO_PROPERTY_CASE"].flatMap { Int($0) }
        let failure = try await onHub(limit: .seconds(50)) { () async throws -> String? in
            var seeds = SplitMix64(seed: baseSeed)
            var styles: [String: Int] = [:]
            for index in 0..<caseCount {
                let seed = seeds.next()
                if let only, only != index { continue }
                let testCase = PropertyCase(seed: seed)
                styles["\(testCase.style)", default: 0] += 1
                do {
                    try await run(testCase)
                } catch let failure as PropertyFailure {
                    return "base seed \(baseSeed) (GREENIO_PROPERTY_SEED), case \(index) (GREENIO_PROPERTY_CASE): \(failure)"
                } catch {
                    return "base seed \(baseSeed) (GREENIO_PROPERTY_SEED), case \(index) (GREENIO_PROPERTY_CASE): "
                        + "\(testCase): unexpected error \(error)"
                }
            }
            // Every style ran (a guard against a generator that stopped varying).
            if only == nil && caseCount >= 100 && styles.count != Style.allCases.count {
                return "base seed \(baseSeed): only the styles \(styles) ran"
            }
            return nil
        }
        if let failure { Issue.record(Comment(rawValue: failure)) }
    }
}
