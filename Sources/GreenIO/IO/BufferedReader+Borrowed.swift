/// Borrowed lines: the next line, or every complete line already buffered, lent in place without
/// making an array per line (Go's `bufio.Reader.ReadSlice`; CPython has no equivalent). A line
/// server answers many lines with one call and no copy; a connection that waits between lines
/// holds no buffer (see `fill(atLeast:deadline:)`).
///
/// Both methods share `readLine(maxLength:deadline:)`'s scanner and its strict length rule.
extension BufferedReader {
    /// Lends the next line (through its `\n`, or a final unterminated line at end of stream) in
    /// place to `body`, then consumes it.
    ///
    /// Reads as `readLine(maxLength:deadline:)` does — buffered bytes first, raw reads only while
    /// no `\n` has arrived, each buffered byte searched once however many calls and reads the line
    /// takes — but instead of returning an array it calls `body` with a pointer into the buffer.
    /// A `\r\n` line is lent with its `\r\n`.
    ///
    /// - The pointer is valid only inside `body`; do not keep it.
    /// - The line is consumed only after `body` returns normally; if `body` throws, nothing is
    ///   consumed and the next call lends the same line again.
    /// - The reader is busy while `body` runs: a call on it from another green thread (or from
    ///   `body` itself) fails with `.busy`.
    /// - End of stream: a final unterminated line of at most `maxLength` bytes is lent as it is;
    ///   once nothing is left, `body` is called with an empty buffer, and every later call does the
    ///   same. That is how a caller sees the end of the stream.
    ///
    /// - Parameters:
    ///   - maxLength: the longest line accepted, terminator included.
    ///   - deadline: an absolute limit for the whole call, on top of the socket's timeout.
    /// - Returns: `body`'s result; nil only when the socket is non-blocking and no complete line
    ///   (nor the end of the stream) is there yet — the partial line stays buffered.
    /// - Throws: `IOError` `.invalidArgument` "maxLength must be positive" for `maxLength <= 0`,
    ///   "readline of closed file"; `.lineTooLong` "line too long" as soon as more than
    ///   `maxLength` bytes are buffered with no `\n` among the first `maxLength` (nothing is
    ///   consumed: the bytes stay buffered); `.busy`; `.timedOut`, `.timedOutObject`, socket
    ///   errors, `CancellationError` — with every received byte still buffered; whatever `body`
    ///   throws (nothing consumed).
    public func withLine<Result>(maxLength: Int, deadline: Deadline? = nil,
                                 _ body: (UnsafeRawBufferPointer) async throws -> Result) async throws -> Result? {
        guard maxLength > 0 else { throw IOError.invalidArgument("maxLength must be positive") }
        try enter("readline")
        defer { leave() }
        guard let length = try await locate(BufferedReader.newline, limit: maxLength, strict: true,
                                            deadline: deadline) else { return nil }
        let result = try await body(UnsafeRawBufferPointer(rebasing: buffer.bytes[0..<length]))
        buffer.consume(length)
        return result
    }

    /// Lends every complete line already buffered (at least one: reads until one is complete), as
    /// one contiguous run of lines, each ending in `\n` and each at most `maxLength` bytes, then
    /// consumes the run.
    ///
    /// A peer that sends several lines at once (pipelining) gets them all in one call: the first
    /// line is found as `withLine(maxLength:deadline:)` finds it, and the run extends over the
    /// complete lines buffered after it, without another raw read. The run stops before a partial
    /// line (it stays buffered for the next call) and before a line longer than `maxLength`: the
    /// good lines before an over-long one are lent first, and the next call throws `.lineTooLong`.
    /// `body` splits the run at its `\n`s (`\r\n` lines keep their `\r`).
    ///
    /// - The pointer is valid only inside `body`; do not keep it.
    /// - The run is consumed only after `body` returns normally; if `body` throws, nothing is
    ///   consumed.
    /// - The reader is busy while `body` runs (another call fails with `.busy`).
    /// - End of stream: a final unterminated line of at most `maxLength` bytes is lent as it is
    ///   (alone); once nothing is left, `body` is called with an empty buffer, and every later call
    ///   does the same.
    ///
    /// - Parameters:
    ///   - maxLength: the longest line accepted, terminator included.
    ///   - deadline: an absolute limit for the whole call, on top of the socket's timeout.
    /// - Returns: `body`'s result; nil only when the socket is non-blocking and no complete line
    ///   (nor the end of the stream) is there yet — the partial line stays buffered.
    /// - Throws: as `withLine(maxLength:deadline:_:)`: `.lineTooLong` "line too long" when the
    ///   first buffered line is over-long, or a pending partial line has more than `maxLength`
    ///   bytes with no `\n` (nothing consumed); timeouts and errors keep every received byte.
    public func withCompleteLines<Result>(maxLength: Int, deadline: Deadline? = nil,
                                          _ body: (UnsafeRawBufferPointer) async throws -> Result) async throws -> Result? {
        guard maxLength > 0 else { throw IOError.invalidArgument("maxLength must be positive") }
        try enter("readline")
        defer { leave() }
        guard var length = try await locate(BufferedReader.newline, limit: maxLength, strict: true,
                                            deadline: deadline) else { return nil }
        // The complete lines after the first, each within `maxLength` (after a final unterminated
        // line at the end of the stream, nothing is left to search).
        var searchedTo = length
        while true {
            let within = length + Swift.min(maxLength, buffer.count - length)
            guard let found = buffer.firstIndex(of: BufferedReader.newline, from: length, within: within) else {
                searchedTo = within
                break
            }
            length = found + 1
        }
        let result = try await body(UnsafeRawBufferPointer(rebasing: buffer.bytes[0..<length]))
        buffer.consume(length)
        // The partial (or over-long) line left was searched up to `searchedTo` without a `\n`.
        buffer.newlineFreeCount = Swift.min(searchedTo - length, buffer.count)
        return result
    }
}
