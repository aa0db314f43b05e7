/// A protocol violation in a client's request stream, as `RESPDecoder` reports it: the server
/// replies `-ERR Protocol error: …` (`description`) and closes the connection, as Redis does. The
/// stream cannot be resynchronised after one.
///
/// `message` never holds a byte the client sent, so it can be logged; the reply may quote the
/// offending input (`got '…'`, as Redis does), but that quote never reaches the log.
public struct RESPProtocolError: Error, Equatable, CustomStringConvertible, Sendable {
    /// What was wrong, without the client's bytes: what a server logs. One of "line longer than N
    /// bytes", "invalid multibulk length", "expected '$'", "invalid bulk length", "expected CRLF
    /// after a bulk string of N bytes".
    public let message: String
    /// The offending input, already made printable (see `printable`), for the reply only.
    public let quoted: String?

    init(_ message: String, quoting quoted: String? = nil) {
        self.message = message
        self.quoted = quoted
    }

    /// The reply's text: `Protocol error: MESSAGE`, with `, got 'QUOTED'` when there is a quote.
    public var description: String { "Protocol error: \(message)" + (quoted.map { ", got '\($0)'" } ?? "") }
}

extension Collection<UInt8> {
    /// The bytes as a decimal integer (optional `-`, digits only); nil if malformed or out of
    /// `Int`'s range.
    var decimalInteger: Int? {
        var digits = self[...]
        let negative = digits.first == UInt8(ascii: "-")
        if negative { digits = digits.dropFirst() }
        guard !digits.isEmpty else { return nil }
        var value = 0
        for byte in digits {
            guard (48...57).contains(byte) else { return nil }
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = negative ? shifted.subtractingReportingOverflow(Int(byte - 48))
                                             : shifted.addingReportingOverflow(Int(byte - 48))
            guard !overflow1, !overflow2 else { return nil }
            value = next
        }
        return value
    }

    /// The bytes as text fit for a one-line error reply: control and non-ASCII bytes and quotes
    /// become `?`, at most 128 of them.
    var printable: String {
        String(decoding: prefix(128).map { (32...126).contains($0) && $0 != 39 ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
    }
}
