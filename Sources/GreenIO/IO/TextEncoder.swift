/// Turns text written to a `TextIOWrapper` into bytes: `\n` translated for the newline mode, then
/// encoded (Python's `TextIOWrapper.write` before it hands bytes to the buffer).
struct TextEncoder {
    let encoding: TextEncoding
    let policy: CodecErrorPolicy
    let newline: NewlineMode

    /// The bytes for `text`, all or nothing.
    /// - Throws: `IOError` `.encodingFailed` (Python's `UnicodeEncodeError` text, e.g.
    ///   `'latin-1' codec can't encode character '\u20ac' in position 3: ordinal not in range(256)`,
    ///   positions counted after newline translation) for a character above U+00FF in Latin-1
    ///   under `.strict`.
    func encode(_ text: String) throws -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        let lineFeed = newline.writtenLineFeed
        var position = 0
        var unencodable: Range<Int>?
        var unencodableFirst: Unicode.Scalar = "?"
        func append(_ scalar: Unicode.Scalar) {
            defer { position += 1 }
            switch encoding {
            case .utf8:
                UTF8.encode(scalar) { bytes.append($0) }
            case .latin1:
                if scalar.value <= 0xFF {
                    bytes.append(UInt8(scalar.value))
                    return
                }
                bytes.append(UInt8(ascii: "?"))
                if policy == .strict {
                    if let run = unencodable {
                        if run.upperBound == position { unencodable = run.lowerBound..<position + 1 }
                    } else {
                        unencodable = position..<position + 1
                        unencodableFirst = scalar
                    }
                }
            }
        }
        for scalar in text.unicodeScalars {
            if scalar == "\n", let lineFeed {
                lineFeed.forEach(append)
            } else {
                append(scalar)
            }
        }
        if let run = unencodable {
            let what = run.count == 1
                ? "character '\(pythonEscape(unencodableFirst))' in position \(run.lowerBound)"
                : "characters in position \(run.lowerBound)-\(run.upperBound - 1)"
            throw IOError(.encodingFailed,
                          "'\(encoding.name)' codec can't encode \(what): ordinal not in range(256)")
        }
        return bytes
    }

    /// Python's repr escape of a character above U+00FF: `\u20ac`, `\U0001f600`.
    private func pythonEscape(_ scalar: Unicode.Scalar) -> String {
        let digits = String(scalar.value, radix: 16)
        let width = scalar.value > 0xFFFF ? 8 : 4
        let padded = String(repeating: "0", count: max(0, width - digits.count)) + digits
        return (width == 8 ? "\\U" : "\\u") + padded
    }
}
