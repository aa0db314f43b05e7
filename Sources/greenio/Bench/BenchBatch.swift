import Glibc

/// One connection's batch of lines for `greenio bench`: `count` lines of `length` bytes each, laid
/// out back to back in one buffer so that a batch goes out with one `sendAll` and its echo is
/// checked with `memcmp`.
///
/// Every line starts with its connection's number (4 hex digits), `-`, and its sequence number on
/// the connection (10 hex digits, modulo 2^40), so that a line echoed on the wrong connection, out of
/// order, twice or not at all never matches what is expected. The rest is filler letters and `\n`:
///
///     0003-000000002a abcdefghij…\n
///
/// Owned by one green thread; call `deallocate()` when done.
struct BenchBatch {
    /// The shortest line: the tag (15 bytes) and the `\n`.
    static let minimumLineLength = 16
    /// The most connections the 4-digit tag can tell apart.
    static let maximumConnections = 0x10000

    /// Lines per batch.
    let count: Int
    /// Bytes per line, `\n` included.
    let length: Int
    /// The batch's bytes: what is sent and what the echo must equal.
    let bytes: UnsafeMutableRawBufferPointer

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
    private static let tagLength = 15
    private static let sequenceOffset = 5
    private static let sequenceDigits = 10

    /// Makes the batch for connection `connection` (0..<65536), with the filler and the connection's
    /// tag in place; `stamp(firstSequence:)` writes the sequence numbers.
    init(connection: Int, count: Int, length: Int) {
        precondition(length >= Self.minimumLineLength && count >= 1 && connection < Self.maximumConnections)
        self.count = count
        self.length = length
        bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: count * length, alignment: 16)
        for line in 0..<count {
            let start = line * length
            for digit in 0..<4 {
                bytes[start + digit] = Self.hexDigits[(connection >> (4 * (3 - digit))) & 0xF]
            }
            bytes[start + 4] = UInt8(ascii: "-")
            for offset in Self.tagLength..<(length - 1) {
                let filler = (offset - Self.tagLength - 1) % 26
                bytes[start + offset] = offset == Self.tagLength ? UInt8(ascii: " ") : UInt8(ascii: "a") + UInt8(filler)
            }
            bytes[start + length - 1] = UInt8(ascii: "\n")
        }
    }

    /// Frees the buffer.
    func deallocate() { bytes.deallocate() }

    /// Writes the sequence numbers `firstSequence`, `firstSequence + 1`, … into the lines.
    func stamp(firstSequence: UInt64) {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        Self.hexDigits.withUnsafeBufferPointer { hex in
            guard let digits = hex.baseAddress else { return }
            for line in 0..<count {
                var value = firstSequence &+ UInt64(line)
                let field = base + line * length + Self.sequenceOffset
                for position in stride(from: Self.sequenceDigits - 1, through: 0, by: -1) {
                    field[position] = digits[Int(value & 0xF)]
                    value >>= 4
                }
            }
        }
    }

    /// Describes the first difference between the batch and echoed bytes that do not match it:
    /// `echoed` was received at `offset` in the batch, and everything before `offset` matched.
    /// - Returns: `line N of the batch: expected "…", got "…"`, both lines shown up to their `\n`.
    func describeMismatch(echoed: UnsafeRawBufferPointer, at offset: Int) -> String {
        var first = 0
        while first < echoed.count && echoed[first] == bytes[offset + first] { first += 1 }
        let line = Swift.min((offset + first) / length, count - 1)
        let lineStart = line * length
        // The echoed line: the matching bytes of earlier receives, then this receive's.
        var got = Array(bytes[lineStart..<Swift.max(lineStart, offset)])
        got += echoed[Swift.max(0, lineStart - offset)...]
        if let newline = got.firstIndex(of: UInt8(ascii: "\n")) { got.removeSubrange((newline + 1)...) }
        let expected = Array(bytes[lineStart..<(lineStart + length)])
        return "line \(line + 1) of \(count) in the batch: expected \(Self.quote(expected)), got \(Self.quote(got))"
    }

    /// The bytes as a quoted string, non-printable bytes escaped, cut after 80 bytes.
    static func quote(_ bytes: [UInt8]) -> String {
        var text = "\""
        for byte in bytes.prefix(80) {
            switch byte {
            case UInt8(ascii: "\n"): text += "\\n"
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): text += "\\" + character(byte)
            case 0x20..<0x7F: text += character(byte)
            default: text += "\\x" + character(hexDigits[Int(byte >> 4)]) + character(hexDigits[Int(byte & 0xF)])
            }
        }
        return text + (bytes.count > 80 ? "\"…" : "\"")
    }
}

/// The one-character string of an ASCII byte.
private func character(_ byte: UInt8) -> String { String(Character(UnicodeScalar(byte))) }
