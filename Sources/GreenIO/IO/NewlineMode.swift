/// How a `TextIOWrapper` ends lines when reading and translates `\n` when writing (Python's
/// `newline` argument). On the input `a\r\nb\rc\nd` the modes read these lines:
///
/// | mode | Python | lines |
/// |---|---|---|
/// | `.universal` | `None` | `a\n`, `b\n`, `c\n`, `d` |
/// | `.universalUntranslated` | `''` | `a\r\n`, `b\r`, `c\n`, `d` |
/// | `.lf` | `'\n'` | `a\r\n`, `b\rc\n`, `d` |
/// | `.crlf` | `'\r\n'` | `a\r\n`, `b\rc\nd` |
/// | `.cr` | `'\r'` | `a\r`, `\nb\r`, `c\nd` |
///
/// Only `.universal` translates what is read. Writes keep `\n` in `.universal`,
/// `.universalUntranslated` and `.lf` (Python's `os.linesep` is `\n` on Linux); `.crlf` and `.cr`
/// write every `\n` as `\r\n` or `\r`.
public enum NewlineMode: Sendable, Hashable {
    /// Python's `newline=None`: lines end at `\r\n`, `\r` or `\n`, and all three read as `\n`.
    case universal
    /// Python's `newline=''`: lines end at `\r\n`, `\r` or `\n`, returned untranslated.
    case universalUntranslated
    /// Python's `newline='\n'`: lines end at `\n` only.
    case lf
    /// Python's `newline='\r\n'`: lines end at `\r\n` only; writes turn `\n` into `\r\n`.
    case crlf
    /// Python's `newline='\r'`: lines end at `\r` only; writes turn `\n` into `\r`.
    case cr

    /// The mode for Python's `newline` value: nil, "", "\n", "\r\n" or "\r".
    /// - Throws: `IOError` `.invalidArgument` "illegal newline value: x" for any other string.
    public init(python value: String?) throws {
        switch value {
        case nil: self = .universal
        case "": self = .universalUntranslated
        case "\n": self = .lf
        case "\r\n": self = .crlf
        case "\r": self = .cr
        case let other?: throw IOError.invalidArgument("illegal newline value: \(other)")
        }
    }

    /// Python's `newline` value for this mode: nil, "", "\n", "\r\n" or "\r".
    public var pythonValue: String? {
        switch self {
        case .universal: nil
        case .universalUntranslated: ""
        case .lf: "\n"
        case .crlf: "\r\n"
        case .cr: "\r"
        }
    }

    /// True for the modes that cannot tell a line ending at a final `\r` until the next character
    /// (or the end of the stream) arrives.
    var holdsTrailingCarriageReturn: Bool {
        self == .universal || self == .universalUntranslated
    }

    /// What a written `\n` becomes, or nil if it stays `\n`.
    var writtenLineFeed: [Unicode.Scalar]? {
        switch self {
        case .universal, .universalUntranslated, .lf: nil
        case .crlf: ["\r", "\n"]
        case .cr: ["\r"]
        }
    }
}
