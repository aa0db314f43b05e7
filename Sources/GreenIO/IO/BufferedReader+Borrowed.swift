import Glibc

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
    ///   - body: called with the line in place (empty once the stream has ended).
    /// - Returns: `body`'s result; nil only when the socket is non-blocking and no complete line
    ///   (nor the end of the stream) is there yet — the partial line stays buffered.
    /// - Throws: `IOError` `.invalidArgument` "maxLength must be positive" for `maxLength <= 0`,
    ///   "readline of closed file"; `.lineTooLong` "line too long" as soon as more than
    ///   `maxLength` bytes are buffered with no `\n` among the first `maxLength` (nothing is
    ///   consumed: the bytes stay buffered); `.busy`; `.timedOut`, `.timedOutObject`, socket
    ///   errors, `CancellationError` — with every received byte still buffered; whatever `body`
    ///   throws (nothing consumed).
    @inlinable
    public func withLine<Result>(maxLength: Int, deadline: Deadline? = nil,
                                 _ body: (UnsafeRawBufferPointer) async throws -> Result) async throws -> Result? {
        // Inlinable, so that `body` is inlined into the caller: calling it through a closure value
        // costs an executor check per call.
        guard let lent = try await lendLine(maxLength: maxLength, deadline: deadline) else { return nil }
        let result: Result
        do {
            result = try await body(lent.bytes)
        } catch {
            endLend(nil)
            throw error
        }
        endLend(lent)
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
    ///   - body: called with the run of lines in place (empty once the stream has ended).
    /// - Returns: `body`'s result; nil only when the socket is non-blocking and no complete line
    ///   (nor the end of the stream) is there yet — the partial line stays buffered.
    /// - Throws: as `withLine(maxLength:deadline:_:)`: `.lineTooLong` "line too long" when the
    ///   first buffered line is over-long, or a pending partial line has more than `maxLength`
    ///   bytes with no `\n` (nothing consumed); timeouts and errors keep every received byte.
    @inlinable
    public func withCompleteLines<Result>(maxLength: Int, deadline: Deadline? = nil,
                                          _ body: (UnsafeRawBufferPointer) async throws -> Result) async throws -> Result? {
        try await withCompleteLines(maxLength: maxLength, deadline: deadline) { lines, _ in try await body(lines) }
    }

    /// `withCompleteLines(maxLength:deadline:_:)` whose `body` also gets the number of lines in the
    /// run (its `\n`s, or 1 for a final unterminated line; 0 with the empty buffer at the end of
    /// the stream), counted by the search that found them: a server counting requests need not
    /// search the run again.
    /// - Returns: as `withCompleteLines(maxLength:deadline:_:)`.
    /// - Throws: as `withCompleteLines(maxLength:deadline:_:)`.
    @inlinable
    public func withCompleteLines<Result>(maxLength: Int, deadline: Deadline? = nil,
                                          _ body: (_ lines: UnsafeRawBufferPointer, _ lineCount: Int) async throws -> Result)
        async throws -> Result? {
        guard let lent = try await lendCompleteLines(maxLength: maxLength, deadline: deadline) else { return nil }
        let result: Result
        do {
            result = try await body(lent.bytes, lent.lineCount)
        } catch {
            endLend(nil)
            throw error
        }
        endLend(lent)
        return result
    }

    // MARK: The lend, without the closure

    /// A lent run: `bytes` (the first `bytes.count` buffered bytes) holds `lineCount` lines; the
    /// buffered bytes up to `searchedTo` hold no `\n` after the run.
    @usableFromInline
    struct LentLines {
        @usableFromInline let bytes: UnsafeRawBufferPointer
        @usableFromInline let lineCount: Int
        let searchedTo: Int
    }

    /// Enters, finds the next line (as `readLine(maxLength:deadline:)` does) and returns it, the
    /// reader left busy until `endLend`; nil (not busy) for would-block. Throws (not busy) as
    /// `withLine`.
    @usableFromInline
    func lendLine(maxLength: Int, deadline: Deadline?) async throws -> LentLines? {
        try await lendFirstLine(maxLength: maxLength, deadline: deadline)
    }

    /// `lendLine`, inlined into both lends (one async frame less per batch).
    @inline(__always)
    private func lendFirstLine(maxLength: Int, deadline: Deadline?) async throws -> LentLines? {
        guard maxLength > 0 else { throw IOError.invalidArgument("maxLength must be positive") }
        try enter("readline")
        do {
            guard let length = try await locate(BufferedReader.newline, limit: maxLength, strict: true,
                                                deadline: deadline) else {
                leave()
                return nil
            }
            return LentLines(bytes: UnsafeRawBufferPointer(rebasing: buffer.bytes[0..<length]),
                             lineCount: length > 0 ? 1 : 0, searchedTo: length)
        } catch {
            leave()
            throw error
        }
    }

    /// `lendLine`, extended over the complete lines buffered after the first (each within
    /// `maxLength`; after a final unterminated line at the end of the stream nothing is left).
    @usableFromInline
    func lendCompleteLines(maxLength: Int, deadline: Deadline?) async throws -> LentLines? {
        guard let first = try await lendFirstLine(maxLength: maxLength, deadline: deadline) else { return nil }
        // The first line's bytes are the buffered bytes' start, so `base` is not nil for a line.
        let buffered = buffer.bytes
        guard let base = buffered.baseAddress else { return first }
        var length = first.bytes.count
        var lineCount = first.lineCount
        while true {
            // One memchr per line, over at most `maxLength` bytes.
            let within = Swift.min(maxLength, buffered.count - length)
            guard within > 0, let found = memchr(base + length, 0x0A, within) else {
                // The partial (or over-long) line left was searched this far without a `\n`.
                return LentLines(bytes: UnsafeRawBufferPointer(start: base, count: length),
                                 lineCount: lineCount, searchedTo: length + within)
            }
            length = base.distance(to: UnsafeRawPointer(found)) + 1
            lineCount += 1
        }
    }

    /// Ends a lend: consumes the lent bytes (none for nil: the body threw) and leaves.
    @usableFromInline
    func endLend(_ lent: LentLines?) {
        defer { leave() }
        guard let lent else { return }
        let length = lent.bytes.count
        buffer.consume(length)
        buffer.newlineFreeCount = Swift.min(lent.searchedTo - length, buffer.count)
    }
}
