import GreenIO

// The borrowed-line methods are inlinable: the handler's closure is then inlined into the handler
// (calling it through a closure value costs an executor check per batch), and the generic result is
// specialized (no metadata look-up per batch).
extension ServerConnection {
    /// Lends the next line in place (`BufferedReader.withLine(maxLength:deadline:_:)` with the
    /// policy's limit and the line deadline), then counts it and renews the deadline. No array is
    /// made for the line.
    /// - Returns: `body`'s result; `body` gets an empty buffer at the end of the stream.
    /// - Throws: as `readLine()`; whatever `body` throws (nothing consumed).
    @inlinable
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
    /// pipelining client's batch is answered with one call, no copy and no array per line
    /// (`writeAndFlush(_:)` sends the run from where it lies).
    /// - Returns: `body`'s result; `body` gets an empty buffer at the end of the stream.
    /// - Throws: as `readLine()`; whatever `body` throws (nothing consumed).
    @inlinable
    public func withCompleteLines<Result>(_ body: (UnsafeRawBufferPointer) async throws -> Result) async throws -> Result {
        var count = 0
        let result = try await reader.withCompleteLines(maxLength: maxLineLength, deadline: lineDeadline) {
            lines, lineCount in
            count = lineCount
            return try await body(lines)
        }
        guard let result else { throw IOError.wouldBlock() }
        if count > 0 { lineCompleted(count: count) }
        return result
    }
}
