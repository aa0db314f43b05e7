/// The character encodings a `TextIOWrapper` supports.
public enum TextEncoding: Sendable, Hashable, CustomStringConvertible {
    /// UTF-8 (Python's default `makefile` encoding on Linux).
    case utf8
    /// ISO-8859-1: every byte is the code point of the same value; only U+0000…U+00FF can be written.
    case latin1

    /// The encoding Python calls `name`, compared case-insensitively with `_` read as `-`:
    /// "utf-8", "utf8" → `.utf8`; "latin-1", "latin1", "iso-8859-1" → `.latin1`.
    /// - Throws: `IOError` `.invalidArgument` "unknown encoding: x" for any other name.
    public init(name: String) throws {
        switch String(name.lowercased().map { $0 == "_" ? "-" : $0 }) {
        case "utf-8", "utf8": self = .utf8
        case "latin-1", "latin1", "iso-8859-1": self = .latin1
        default: throw IOError.invalidArgument("unknown encoding: \(name)")
        }
    }

    /// Python's canonical codec name, as used in codec error messages: "utf-8" or "latin-1".
    public var name: String {
        switch self {
        case .utf8: "utf-8"
        case .latin1: "latin-1"
        }
    }

    /// The same as `name`.
    public var description: String { name }
}

/// What a `TextIOWrapper` does with bytes it cannot decode and characters it cannot encode
/// (Python's `errors` argument).
public enum CodecErrorPolicy: Sendable, Hashable, CustomStringConvertible {
    /// Fail: reads throw `IOError` `.decodingFailed`, writes throw `.encodingFailed`.
    case strict
    /// Substitute: each undecodable byte sequence reads as U+FFFD, each unencodable character is
    /// written as `?`.
    case replace

    /// The policy Python calls `name`: "strict" or "replace".
    /// - Throws: `IOError` `.invalidArgument` "unknown error handler name 'x'" for any other name.
    public init(name: String) throws {
        switch name {
        case "strict": self = .strict
        case "replace": self = .replace
        default: throw IOError.invalidArgument("unknown error handler name '\(name)'")
        }
    }

    /// Python's name for the policy: "strict" or "replace".
    public var name: String {
        switch self {
        case .strict: "strict"
        case .replace: "replace"
        }
    }

    /// The same as `name`.
    public var description: String { name }
}
