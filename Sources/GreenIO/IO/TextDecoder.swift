/// An invalid byte sequence at the front of a `TextDecoder`'s undecoded bytes.
struct DecodingFailure {
    /// How many bytes the invalid sequence spans.
    let length: Int
    /// The error to report (Python's `UnicodeDecodeError` text).
    let error: IOError
}

/// An incremental decoder (Python's `codecs.getincrementaldecoder`) for UTF-8 and Latin-1.
///
/// Bytes are fed in as they arrive; `decode` turns every complete character into a scalar and
/// keeps an incomplete UTF-8 sequence at the end until the rest arrives, so a character split
/// across reads comes out whole. Under `.strict` decoding stops before an invalid sequence and
/// reports it without consuming it; the owner decides when to `discard` it. Nothing else is
/// ever dropped.
struct TextDecoder {
    let encoding: TextEncoding
    let policy: CodecErrorPolicy
    /// Bytes received and not yet decoded.
    private var undecoded: [UInt8] = []

    init(encoding: TextEncoding, policy: CodecErrorPolicy) {
        self.encoding = encoding
        self.policy = policy
    }

    /// True if some received bytes are not decoded yet (an incomplete character, or an invalid
    /// sequence and what follows it).
    var hasUndecodedBytes: Bool { !undecoded.isEmpty }

    /// Adds received bytes.
    mutating func feed(_ bytes: [UInt8]) {
        if undecoded.isEmpty { undecoded = bytes } else { undecoded += bytes }
    }

    /// Appends every decodable character to `output`. With `final` the stream has ended, so an
    /// incomplete sequence at the end is an error ("unexpected end of data").
    /// - Returns: under `.strict`, the invalid sequence decoding stopped at (still undecoded);
    ///   otherwise nil.
    mutating func decode(into output: inout [Unicode.Scalar], final: Bool) -> DecodingFailure? {
        switch encoding {
        case .latin1:
            output.reserveCapacity(output.count + undecoded.count)
            for byte in undecoded { output.append(Unicode.Scalar(byte)) }
            undecoded.removeAll(keepingCapacity: true)
            return nil
        case .utf8:
            return decodeUTF8(into: &output, final: final)
        }
    }

    /// Drops the invalid sequence `failure` reported (it was reported in the error).
    mutating func discard(_ failure: DecodingFailure) {
        undecoded.removeFirst(min(failure.length, undecoded.count))
    }

    private mutating func decodeUTF8(into output: inout [Unicode.Scalar], final: Bool) -> DecodingFailure? {
        var index = 0
        var failure: DecodingFailure?
        output.reserveCapacity(output.count + undecoded.count)
        decoding: while index < undecoded.count {
            switch UTF8Step(undecoded, at: index) {
            case .scalar(let scalar, let length):
                output.append(scalar)
                index += length
            case .incomplete:
                guard final else { break decoding }
                let length = undecoded.count - index
                if policy == .strict {
                    failure = makeFailure(at: index, length: length, reason: "unexpected end of data")
                    break decoding
                }
                output.append(Unicode.Scalar.replacement)
                index += length
            case .invalid(let length, let reason):
                if policy == .strict {
                    failure = makeFailure(at: index, length: length, reason: reason)
                    break decoding
                }
                output.append(Unicode.Scalar.replacement)
                index += length
            }
        }
        undecoded.removeFirst(index)
        return failure
    }

    /// Python's message: `'utf-8' codec can't decode byte 0xff in position 0: invalid start byte`
    /// (`bytes in position 0-1` for a longer sequence). Positions count from the first byte not
    /// yet decoded.
    private func makeFailure(at index: Int, length: Int, reason: String) -> DecodingFailure {
        let what = length == 1
            ? "byte 0x\(hexByte(undecoded[index])) in position \(index)"
            : "bytes in position \(index)-\(index + length - 1)"
        let message = "'\(encoding.name)' codec can't decode \(what): \(reason)"
        return DecodingFailure(length: length, error: IOError(.decodingFailed, message))
    }

    private func hexByte(_ byte: UInt8) -> String {
        let digits = String(byte, radix: 16)
        return digits.count == 1 ? "0" + digits : digits
    }
}

extension Unicode.Scalar {
    /// U+FFFD REPLACEMENT CHARACTER.
    static let replacement: Unicode.Scalar = "\u{FFFD}"
}

/// One step of UTF-8 decoding with Python's (and Unicode's "maximal subpart") rules: a sequence
/// ends at the first byte that cannot continue it, and that byte starts the next step.
enum UTF8Step {
    /// A complete character of `length` bytes.
    case scalar(Unicode.Scalar, length: Int)
    /// A valid start of a character whose remaining bytes have not arrived.
    case incomplete
    /// `length` bytes that cannot start or continue a character.
    case invalid(length: Int, reason: String)

    init(_ bytes: [UInt8], at index: Int) {
        let lead = bytes[index]
        if lead < 0x80 {
            self = .scalar(Unicode.Scalar(lead), length: 1)
            return
        }
        // Continuation bytes needed, and the range allowed for the first one (excluding overlong
        // forms, surrogates and values above U+10FFFF).
        let needed: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: needed = 1
        case 0xE0: needed = 2; low = 0xA0
        case 0xE1...0xEC, 0xEE, 0xEF: needed = 2
        case 0xED: needed = 2; high = 0x9F
        case 0xF0: needed = 3; low = 0x90
        case 0xF1...0xF3: needed = 3
        case 0xF4: needed = 3; high = 0x8F
        default:
            self = .invalid(length: 1, reason: "invalid start byte")
            return
        }
        var value = UInt32(lead) & (needed == 1 ? 0x1F : needed == 2 ? 0x0F : 0x07)
        for offset in 1...needed {
            guard index + offset < bytes.count else {
                self = .incomplete
                return
            }
            let byte = bytes[index + offset]
            let allowed = offset == 1 ? low...high : 0x80...0xBF
            guard allowed.contains(byte) else {
                self = .invalid(length: offset, reason: "invalid continuation byte")
                return
            }
            value = value << 6 | UInt32(byte & 0x3F)
        }
        guard let scalar = Unicode.Scalar(value) else {
            // Unreachable: the ranges above admit only scalar values.
            self = .invalid(length: needed + 1, reason: "invalid continuation byte")
            return
        }
        self = .scalar(scalar, length: needed + 1)
    }
}
