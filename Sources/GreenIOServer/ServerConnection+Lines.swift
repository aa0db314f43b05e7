import GreenIO
import Glibc

extension ServerConnection {
    /// Lends the next line in place (`BufferedReader.withLine(maxLength:deadline:_:)` with the
    /// policy's limit and the line deadline), then counts it and renews the deadline. No array is
    /// made for the line.
    /// - Returns: `body`'s result; `body` gets an empty buffer at the end of the stream.
    /// - Throws: as `readLine()`; whatever `body` throws (nothing consumed).
    public func withLine<Result>(_ body: (UnsafeRawBufferPointer) async throws -> Result) async throws -> Result {
        var count = 0
        let result = try await reader.withLine(maxLength: maxLineLength, deadline: lineDeadline) { line in
            count = line.isEmpty ? 0 : 1
            return try await body(line)
        }
        guard let result else { throw IOError.wouldBlock() }  // Only a non-blocking socket returns nil.
        if count > 0 { lineCompleted(count: count) }
        return result
    }

    /// Lends every complete line already received as one run (at least one line: it reads until
    /// one is complete; `BufferedReader.withCompleteLines(maxLength:deadline:_:)` with the
    /// policy's limit and the line deadline), then counts the lines and renews the deadline. A
    /// pipelining client's batch is answered with one call, no copy and no array per line.
    /// - Returns: `body`'s result; `body` gets an empty buffer at the end of the stream.
    /// - Throws: as `readLine()`; whatever `body` throws (nothing consumed).
    public func withCompleteLines<Result>(_ body: (UnsafeRawBufferPointer) async throws -> Result) async throws -> Result {
        var count = 0
        let result = try await reader.withCompleteLines(maxLength: maxLineLength, deadline: lineDeadline) { lines in
            count = Self.lineCount(lines)
            return try await body(lines)
        }
        guard let result else { throw IOError.wouldBlock() }
        if count > 0 { lineCompleted(count: count) }
        return result
    }

    /// The lines in a run: its `\n`s, plus one for a final unterminated line.
    private static func lineCount(_ lines: UnsafeRawBufferPointer) -> Int {
        guard let base = lines.baseAddress, !lines.isEmpty else { return 0 }
        var count = 0
        var position = 0
        while position < lines.count, let found = memchr(base + position, 0x0A, lines.count - position) {
            count += 1
            position = base.distance(to: UnsafeRawPointer(found)) + 1
        }
        return position < lines.count ? count + 1 : count
    }
}
