import Glibc

/// The fast path of `RESPCommandReader`: takes one command whole from bytes that have already
/// arrived, in place, with no waiting and no per-line arrays. Pipelined clients send commands in
/// batches, so nearly every command is already complete in the reader's buffer.
///
/// It accepts only what the reading path (`RESPCommandReader.next`) would accept and returns the
/// same arguments; anything else — an incomplete command, a malformed one, a line or bulk string
/// over the limits — is left untouched for that path, which waits for the rest or reports the
/// error with its usual message.
struct RESPBufferedParser {
    /// The longest line (inline command or `*`/`$` header), terminator included.
    let maxLine: Int
    /// The longest bulk string.
    let maxBulk: Int

    /// Parses the first command in `bytes`, skipping empty ones (`*0`, blank lines) before it.
    /// - Returns: how many bytes it used, and the arguments (at least one), or nil when `bytes` does
    ///   not start with a complete, well-formed command (then only the empty commands skipped are
    ///   counted as used).
    func command(in bytes: UnsafeRawBufferPointer) -> (consumed: Int, value: [[UInt8]]?) {
        var position = 0
        while let (content, next) = line(in: bytes, from: position) {
            guard content.first == UInt8(ascii: "*") else {
                let words = RESPCommandReader.inlineArguments(content)
                if words.isEmpty { position = next; continue }
                return (next, words)
            }
            guard let count = content.dropFirst().decimalInteger, count <= RESPCommandReader.maxArguments else {
                return (position, nil)
            }
            if count <= 0 { position = next; continue }
            guard let (arguments, end) = bulkStrings(count, in: bytes, from: next) else { return (position, nil) }
            return (end, arguments)
        }
        return (position, nil)
    }

    /// `count` complete `$n` bulk strings from `start`, and the index after the last; nil if they
    /// are not all there and well-formed.
    private func bulkStrings(_ count: Int, in bytes: UnsafeRawBufferPointer, from start: Int) -> ([[UInt8]], Int)? {
        var arguments: [[UInt8]] = []
        // Every bulk string takes at least 6 bytes ("$0\r\n\r\n"): no reservation beyond what the
        // buffer can hold, whatever the header claims.
        arguments.reserveCapacity(min(count, (bytes.count - start) / 6 + 1))
        var position = start
        for _ in 0..<count {
            guard let (header, dataStart) = line(in: bytes, from: position),
                  header.first == UInt8(ascii: "$"),
                  let length = header.dropFirst().decimalInteger, (0...maxBulk).contains(length),
                  bytes.count - dataStart >= length + 2,
                  bytes[dataStart + length] == 13, bytes[dataStart + length + 1] == 10
            else { return nil }
            arguments.append(Array(UnsafeRawBufferPointer(rebasing: bytes[dataStart..<(dataStart + length)])))
            position = dataStart + length + 2
        }
        return (arguments, position)
    }

    /// The line starting at `start` without its `\n` or `\r\n`, and the index after it; nil if no
    /// newline comes within `maxLine` bytes.
    private func line(in bytes: UnsafeRawBufferPointer, from start: Int) -> (Slice<UnsafeRawBufferPointer>, Int)? {
        let limit = min(bytes.count, start + maxLine)
        guard start < limit, let base = bytes.baseAddress, let found = memchr(base + start, 10, limit - start) else {
            return nil
        }
        let newline = base.distance(to: UnsafeRawPointer(found))
        let end = newline > start && bytes[newline - 1] == 13 ? newline - 1 : newline
        return (bytes[start..<end], newline + 1)
    }
}
