import GreenIO

/// One RESP2 reply, as `greenio serve --protocol resp` sends it.
enum RESPReply: Sendable {
    /// `+text`: a status such as OK or PONG.
    case simple(String)
    /// `-text`: an error; the text starts with its code ("ERR …").
    case error(String)
    /// `:n`.
    case integer(Int)
    /// `$n` and the bytes, or `$-1` (nil).
    case bulk([UInt8]?)
    /// `*n` and the elements.
    case array([RESPReply])

    /// Appends the wire form to `out`.
    func encode(into out: inout [UInt8]) {
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

    /// A type byte, `text` (which must not contain CR or LF) and CRLF.
    private static func line(_ type: UInt8, _ text: String, into out: inout [UInt8]) {
        out.append(type)
        out += text.utf8
        out += crlf
    }
}

/// A protocol violation: the connection gets `-ERR Protocol error: MESSAGE` and is closed.
///
/// `message` never holds a byte the client sent, so it can be logged; the reply may quote the
/// offending input (`got '…'`, as Redis does), but that quote never reaches the log.
struct RESPProtocolError: Error, CustomStringConvertible {
    /// What was wrong, without the client's bytes: what the server logs.
    let message: String
    /// The offending input, already made printable, for the reply only.
    let quoted: String?

    init(_ message: String, quoting quoted: String? = nil) {
        self.message = message
        self.quoted = quoted
    }

    /// The reply's text: `Protocol error: MESSAGE`, with `, got 'QUOTED'` when there is a quote.
    var description: String { "Protocol error: \(message)" + (quoted.map { ", got '\($0)'" } ?? "") }
}

/// Reads RESP2 commands from a connection's buffered reader: multibulk
/// (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) through `readLine(maxLength:)` for the `*` and `$` lines
/// and an exact `read(n)` for each bulk string, or inline (`GET k\r\n`), one line split at spaces
/// (no quoting).
///
/// Replies go to the same file's writer, and are flushed only when the next read would have to
/// wait for the network: a pipelined batch gets all its replies in one send, and a client never
/// waits for replies the server holds back.
struct RESPCommandReader {
    let file: BufferedRWPair
    /// The socket under `file`, switched to non-blocking to try a line without waiting.
    let connection: any EchoConnection
    /// The longest line (inline command or `*`/`$` header) accepted, terminator included.
    let maxLine: Int
    /// The longest bulk string accepted.
    let maxBulk: Int
    /// The most arguments a multibulk command may have (Redis's limit).
    static let maxArguments = 1024 * 1024
    /// The largest single read for a bulk string.
    static let bulkPiece = 1 << 20

    /// An inline command's arguments: the line split at spaces and tabs (no quoting); empty for a
    /// blank line.
    static func inlineArguments(_ line: some Collection<UInt8>) -> [[UInt8]] {
        line.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 }).map { Array($0) }
    }

    /// The next command if it has arrived whole, parsed in place from the reader's buffer
    /// (`RESPBufferedParser`) without waiting; nil if it has not (or is malformed), for `next` to
    /// read or report. Empty commands before it are skipped either way.
    /// - Throws: `IOError` if the reader is closed or busy.
    func nextBuffered() throws -> [[UInt8]]? {
        let parser = RESPBufferedParser(maxLine: maxLine, maxBulk: maxBulk)
        return try file.reader.consumeBuffered { parser.command(in: $0) }
    }

    /// Reads the next command's arguments (at least one), each line or bulk string within `deadline`.
    /// Empty commands (`*0`, blank lines) are skipped.
    /// - Returns: the arguments; nil at the end of the stream (a command cut short by it is dropped).
    /// - Throws: `RESPProtocolError` for malformed input; `IOError` `.timedOut` and socket errors;
    ///   `CancellationError`.
    func next(deadline: Deadline?) async throws -> [[UInt8]]? {
        while true {
            guard let line = try await line(deadline: deadline) else { return nil }
            guard line.first == UInt8(ascii: "*") else {
                let words = Self.inlineArguments(line)
                if words.isEmpty { continue }
                return words
            }
            guard let count = line.dropFirst().decimalInteger, count <= Self.maxArguments else {
                throw RESPProtocolError("invalid multibulk length")
            }
            if count <= 0 { continue }
            var arguments: [[UInt8]] = []
            arguments.reserveCapacity(min(count, 1024))
            for _ in 0..<count {
                guard let argument = try await bulk(deadline: deadline) else { return nil }
                arguments.append(argument)
            }
            return arguments
        }
    }

    /// One `$n` header and its `n` bytes and CRLF; nil at the end of the stream.
    private func bulk(deadline: Deadline?) async throws -> [UInt8]? {
        guard let header = try await line(deadline: deadline) else { return nil }
        guard header.first == UInt8(ascii: "$") else {
            throw RESPProtocolError("expected '$'", quoting: header.prefix(1).printable)
        }
        guard let length = header.dropFirst().decimalInteger, length >= 0, length <= maxBulk else {
            throw RESPProtocolError("invalid bulk length")
        }
        if file.reader.bufferedByteCount < length + 2 { try await file.flush(deadline: deadline) }
        // Exact reads of at most `bulkPiece` bytes: memory grows with the data that arrives, not
        // with what a header claims.
        var data: [UInt8] = []
        while data.count < length + 2 {
            let wanted = min(length + 2 - data.count, Self.bulkPiece)
            guard let piece = try await file.read(wanted, deadline: deadline), piece.count == wanted else { return nil }
            if data.isEmpty { data = piece } else { data += piece }
        }
        guard data[length] == 13, data[length + 1] == 10 else {
            throw RESPProtocolError("expected CRLF after a bulk string of \(length) bytes")
        }
        data.removeLast(2)
        return data
    }

    /// One line without its `\n` or `\r\n`; nil at the end of the stream (or of a final partial
    /// line). While replies are waiting in the writer, the line is first tried without waiting
    /// (non-blocking: a partial line stays buffered); if it is not complete yet, they are flushed.
    private func line(deadline: Deadline?) async throws -> ArraySlice<UInt8>? {
        var line: [UInt8]?
        do {
            if file.writer.bufferedByteCount > 0 {
                let mode = connection.timeout
                try connection.setTimeout(.nonBlocking)
                do {
                    line = try await file.readLine(maxLength: maxLine, deadline: deadline)
                    try connection.setTimeout(mode)
                } catch {
                    try connection.setTimeout(mode)
                    throw error
                }
                if line == nil { try await file.flush(deadline: deadline) }
            }
            if line == nil { line = try await file.readLine(maxLength: maxLine, deadline: deadline) }
        } catch let error as IOError where error.kind == .lineTooLong {
            throw RESPProtocolError("line longer than \(maxLine) bytes")
        }
        guard let line, line.last == 10 else { return nil }
        let end = line.count >= 2 && line[line.count - 2] == 13 ? line.count - 2 : line.count - 1
        return line[..<end]
    }
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
