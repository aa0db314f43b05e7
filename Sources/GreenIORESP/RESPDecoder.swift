import Glibc

/// What `RESPDecoder.decode(_:)` found at the start of the bytes it was given.
public enum RESPDecoding: Sendable, Equatable {
    /// A whole command: its arguments (at least one; the first names the command), and how many
    /// bytes from the start of those given it used, empty commands before it included.
    case command(arguments: [[UInt8]], consumed: Int)
    /// No whole command yet: `consumed` bytes (empty commands, skipped) are done with; the rest must
    /// be given again, followed by more of the stream.
    case needMore(consumed: Int)
    /// The stream breaks the protocol here. Nothing after it can be decoded: the server replies
    /// `-ERR \(error)` and closes the connection.
    case protocolError(RESPProtocolError)

    /// How many bytes the caller drops: the count of `.command` or `.needMore`, 0 for
    /// `.protocolError`.
    public var consumed: Int {
        switch self {
        case .command(_, let consumed), .needMore(let consumed): consumed
        case .protocolError: 0
        }
    }
}

/// An incremental decoder of RESP2 requests, the grammar Redis accepts from clients, as Redis
/// reads it:
///
/// - multibulk: `*N` then `N` bulk strings, each `$n`, `n` bytes of data (binary; CR and LF are
///   data) and CRLF: `*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`;
/// - inline: any other line, split at spaces and tabs (no quoting): `GET k\r\n`;
/// - empty commands — `*0`, a negative count such as `*-1`, a blank line — are skipped.
///
/// Lines (`*`/`$` headers and inline commands) end with `\n` or `\r\n` and may be at most `maxLine`
/// bytes long, terminator included.
///
/// The decoder works on the bytes a buffered reader holds (`BufferedReader.consumeBuffered`): each
/// call decodes the first command in the bytes given and says how many bytes it used, or that it
/// needs more. It never needs more than what has arrived, and never reserves memory for what a
/// header announces: a bulk string's bytes stay in the caller's buffer until all of them are there
/// (``RESPDecoder/missingByteCount`` says how many are still to come; the caller decides how much room to make).
/// Between calls it remembers how far it got into an incomplete command, so that a command
/// arriving in many pieces (a large bulk string) is not examined again from its start each time.
/// That memory is why `decode` is `mutating`, and why each call must be given the bytes of the
/// previous one, less those it said were consumed, followed by any that arrived since. (Given fewer
/// bytes than it already examined, it starts over from the first byte.)
///
/// A command cut short by the end of the stream is not a protocol error: it is simply never
/// complete, and the caller drops it.
public struct RESPDecoder: Sendable {
    /// The longest line (inline command or `*`/`$` header) accepted, terminator included; at least 1.
    /// A longer one is a protocol error, "line longer than N bytes", decided as soon as more than
    /// `maxLine` bytes of it are there with no `\n`.
    public let maxLine: Int
    /// The longest bulk string accepted (at least 0); a longer `$n` is "invalid bulk length".
    public let maxBulk: Int
    /// The most bulk strings one multibulk command may have (at least 0); more is "invalid
    /// multibulk length".
    public let maxArguments: Int

    /// The default `maxLine`: 64 KiB, Redis's limit on inline commands.
    public static let defaultMaxLine = 64 * 1024
    /// The default `maxBulk`: 512 MiB, Redis's `proto-max-bulk-len`.
    public static let defaultMaxBulk = 512 << 20
    /// The default `maxArguments`: 1 Mi, Redis's limit.
    public static let defaultMaxArguments = 1024 * 1024

    // The multibulk command in progress, with offsets counted from its first byte, which is the
    // first byte of the next call (it was never consumed).

    /// How many bulk strings it has; 0 between commands.
    private var expected = 0
    /// Its bulk strings so far.
    private var arguments: [[UInt8]] = []
    /// Where decoding resumes: the next line, or the current bulk string's data.
    private var resume = 0
    /// The current bulk string's length once its header is decoded (its data starts at `resume`);
    /// -1 while the next thing is a header.
    private var bulkLength = -1
    /// How many bytes of the line at `resume` are known to hold no `\n`.
    private var lineScanned = 0

    /// After `.needMore`, the fewest bytes that must arrive before `decode` can return anything
    /// new: the rest of a bulk string whose header has been decoded, with its CRLF; else 1. A caller
    /// that reads into a buffer makes room for this many, so that a large bulk string arrives in few
    /// reads — capped, since a header may announce up to `maxBulk` bytes. 0 after `.command` and
    /// `.protocolError`.
    public private(set) var missingByteCount = 0

    /// Makes a decoder with these limits (values below the minimum are raised to it).
    public init(maxLine: Int = defaultMaxLine, maxBulk: Int = defaultMaxBulk,
                maxArguments: Int = defaultMaxArguments) {
        self.maxLine = max(maxLine, 1)
        self.maxBulk = max(maxBulk, 0)
        self.maxArguments = max(maxArguments, 0)
    }

    /// Decodes the first command in `bytes` (the stream's unconsumed bytes, in order), skipping
    /// empty commands before it.
    /// - Returns: `.command` with its arguments and the bytes used; `.needMore` when no whole
    ///   command is there yet (for example nothing, or a command cut short); `.protocolError` for
    ///   malformed input or input over the limits (after which the decoder starts afresh, but the
    ///   stream cannot be resynchronised).
    public mutating func decode(_ bytes: UnsafeRawBufferPointer) -> RESPDecoding {
        if resume + lineScanned > bytes.count { reset() }  // Not the bytes of the previous call.
        var start = 0  // Where the command being decoded starts.
        var position = resume
        while expected == 0 {
            switch line(in: bytes, from: position) {
            case .incomplete(let scanned):
                lineScanned = scanned
                missingByteCount = 1
                return .needMore(consumed: position)
            case .tooLong:
                return fail(RESPProtocolError("line longer than \(maxLine) bytes"))
            case .complete(let content, let next):
                lineScanned = 0
                guard content.first == UInt8(ascii: "*") else {
                    let words = Self.inlineArguments(content)
                    position = next
                    if words.isEmpty { continue }
                    missingByteCount = 0
                    return .command(arguments: words, consumed: position)
                }
                guard let count = content.dropFirst().decimalInteger, count <= maxArguments else {
                    return fail(RESPProtocolError("invalid multibulk length"))
                }
                if count > 0 {
                    start = position
                    expected = count
                    // Every bulk string takes at least 6 bytes ("$0\r\n\r\n"): no reservation
                    // beyond what has arrived, whatever the header claims.
                    arguments.reserveCapacity(min(count, (bytes.count - next) / 6 + 1))
                }
                position = next
            }
        }
        while arguments.count < expected {
            if bulkLength < 0 {
                switch line(in: bytes, from: position) {
                case .incomplete(let scanned):
                    lineScanned = scanned
                    return suspend(start: start, at: position)
                case .tooLong:
                    return fail(RESPProtocolError("line longer than \(maxLine) bytes"))
                case .complete(let header, let next):
                    lineScanned = 0
                    guard header.first == UInt8(ascii: "$") else {
                        return fail(RESPProtocolError("expected '$'", quoting: header.prefix(1).printable))
                    }
                    guard let length = header.dropFirst().decimalInteger, length >= 0, length <= maxBulk else {
                        return fail(RESPProtocolError("invalid bulk length"))
                    }
                    bulkLength = length
                    position = next
                }
            }
            // The data and its CRLF (written so that a length near Int.max cannot overflow).
            guard bytes.count - position - 2 >= bulkLength else {
                let suspended = suspend(start: start, at: position)
                let missing = bulkLength - (bytes.count - position)  // At least -1.
                missingByteCount = missing > Int.max - 2 ? Int.max : missing + 2
                return suspended
            }
            let end = position + bulkLength
            guard bytes[end] == 13, bytes[end + 1] == 10 else {
                return fail(RESPProtocolError("expected CRLF after a bulk string of \(bulkLength) bytes"))
            }
            arguments.append(Array(UnsafeRawBufferPointer(rebasing: bytes[position..<end])))
            position = end + 2
            bulkLength = -1
        }
        let command = arguments
        reset()
        return .command(arguments: command, consumed: position)
    }

    /// An inline command's arguments: the line split at spaces and tabs (no quoting); empty for a
    /// blank line.
    static func inlineArguments(_ line: some Collection<UInt8>) -> [[UInt8]] {
        line.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 }).map { Array($0) }
    }

    /// Forgets the command in progress.
    private mutating func reset() {
        missingByteCount = 0
        expected = 0
        arguments = []
        resume = 0
        bulkLength = -1
        lineScanned = 0
    }

    /// Keeps the command that starts at `start` for the next call, to go on at `position`.
    private mutating func suspend(start: Int, at position: Int) -> RESPDecoding {
        resume = position - start
        missingByteCount = 1
        return .needMore(consumed: start)
    }

    private mutating func fail(_ error: RESPProtocolError) -> RESPDecoding {
        reset()
        return .protocolError(error)
    }

    private enum Line {
        /// The line without its `\n` or `\r\n`, and the index after it.
        case complete(Slice<UnsafeRawBufferPointer>, next: Int)
        /// No `\n` yet, in the `scanned` bytes there are (at most `maxLine`).
        case incomplete(scanned: Int)
        /// More than `maxLine` bytes and no `\n` among the first `maxLine`.
        case tooLong
    }

    /// The line starting at `start` (of which `lineScanned` bytes are known to hold no `\n`).
    @inline(__always)
    private func line(in bytes: UnsafeRawBufferPointer, from start: Int) -> Line {
        let limit = start + min(bytes.count - start, maxLine)
        let from = start + lineScanned
        if from < limit, let base = bytes.baseAddress, let found = memchr(base + from, 10, limit - from) {
            let newline = base.distance(to: UnsafeRawPointer(found))
            let end = newline > start && bytes[newline - 1] == 13 ? newline - 1 : newline
            return .complete(bytes[start..<end], next: newline + 1)
        }
        return bytes.count - start > maxLine ? .tooLong : .incomplete(scanned: limit - start)
    }
}
