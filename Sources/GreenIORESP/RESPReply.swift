/// One RESP2 reply, as a server sends it.
public enum RESPReply: Sendable, Equatable {
    /// `+text`: a status such as OK or PONG. The text must not contain CR or LF.
    case simple(String)
    /// `-text`: an error; the text starts with its code ("ERR …") and must not contain CR or LF.
    case error(String)
    /// `:n`.
    case integer(Int)
    /// `$n` and the bytes, or `$-1` (nil).
    case bulk([UInt8]?)
    /// `*n` and the elements.
    case array([RESPReply])

    /// Appends the wire form to `out`. Never fails; a `.simple` or `.error` text holding CR or LF
    /// is sent as is and breaks the stream (the caller's mistake).
    public func encode(into out: inout [UInt8]) {
        switch self {
        case .simple(let text): Self.line(UInt8(ascii: "+"), text, into: &out)
        case .error(let text): Self.line(UInt8(ascii: "-"), text, into: &out)
        case .integer(let value): Self.line(UInt8(ascii: ":"), value, into: &out)
        case .bulk(nil): Self.line(UInt8(ascii: "$"), -1, into: &out)
        case .bulk(let bytes?):
            Self.line(UInt8(ascii: "$"), bytes.count, into: &out)
            out += bytes
            out += Self.crlf
        case .array(let elements):
            Self.line(UInt8(ascii: "*"), elements.count, into: &out)
            for element in elements { element.encode(into: &out) }
        }
    }

    private static let crlf: [UInt8] = [13, 10]

    /// A type byte, `value` in decimal and CRLF, without making a string.
    private static func line(_ type: UInt8, _ value: Int, into out: inout [UInt8]) {
        out.append(type)
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // room for the 20 digits of any Int
        var magnitude = value.magnitude
        withUnsafeMutableBytes(of: &digits) { buffer in
            var index = buffer.count
            repeat {
                index -= 1
                buffer[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[index...]))
        }
        out += crlf
    }

    /// A type byte, `text` and CRLF.
    private static func line(_ type: UInt8, _ text: String, into out: inout [UInt8]) {
        out.append(type)
        out += text.utf8
        out += crlf
    }
}
