/// The reference decoding of a whole stream, computed with the standard library (not with
/// GreenIO's decoder): what a `TextIOWrapper` must return in total, however the stream is chunked.
struct TextReference {
    /// The text, newline translation applied.
    let scalars: [Unicode.Scalar]
    /// How many invalid sequences a `.strict` decode reports (0 for Latin-1 and `.replace`).
    let failures: Int

    init(_ bytes: [UInt8], latin1: Bool, strict: Bool, translate: Bool) {
        var decoded: [Unicode.Scalar] = []
        var failures = 0
        if latin1 {
            decoded = bytes.map { Unicode.Scalar($0) }
        } else {
            // The standard library's parser splits invalid input into maximal subparts, as
            // Python's codec (and Unicode's recommended practice) do.
            var iterator = bytes.makeIterator()
            var parser = Unicode.UTF8.ForwardParser()
            loop: while true {
                switch parser.parseScalar(from: &iterator) {
                case .valid(let encoded): decoded.append(Unicode.UTF8.decode(encoded))
                case .error:
                    failures += 1
                    if !strict { decoded.append("\u{FFFD}") }
                case .emptyInput: break loop
                }
            }
            if strict {
                // The brief's cross-check: valid input decodes exactly as `String(validating:)`.
                let validated = String(validating: bytes, as: UTF8.self)
                check((validated == nil) == (failures > 0), "ForwardParser and String(validating:) disagree")
                if let validated { check(Array(validated.unicodeScalars) == decoded, "decoded text differs") }
            }
        }
        scalars = translate ? Self.translatingNewlines(decoded) : decoded
        self.failures = strict ? failures : 0
    }

    /// `\r\n` and a lone `\r` become `\n` (Python's universal newlines).
    static func translatingNewlines(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var result: [Unicode.Scalar] = []
        result.reserveCapacity(scalars.count)
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            index += 1
            if scalar == "\r" {
                if index < scalars.count && scalars[index] == "\n" { index += 1 }
                result.append("\n")
            } else {
                result.append(scalar)
            }
        }
        return result
    }
}
