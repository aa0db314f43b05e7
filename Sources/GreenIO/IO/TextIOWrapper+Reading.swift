extension TextIOWrapper {
    /// Reads `count` characters (Unicode scalars), fewer only at the end of the stream or when the
    /// socket would block; `count < 0` reads to the end of the stream (Python's `read(n)`).
    ///
    /// Blocking and timeout modes wait until `count` characters or the end of the stream arrive.
    /// Non-blocking mode returns what is available when the socket would block.
    /// - Parameters:
    ///   - count: how many characters; negative for all of them up to the end of the stream.
    ///   - deadline: an absolute limit on top of the socket's timeout, for each binary read.
    /// - Returns: the text; `""` at the end of the stream or when `count == 0`; nil if the socket is
    ///   non-blocking and no character is available (Python 3.11 returns `""` from `read(n)` and
    ///   raises `TypeError` from `read()`).
    /// - Throws: `IOError` `.invalidArgument` "I/O operation on closed file."; `.unsupportedOperation`
    ///   "not readable"; `.decodingFailed` under `.strict` when the text needed lies past an invalid
    ///   byte sequence; `.busy` if another green thread is reading; the reader's errors
    ///   (`.timedOut`, `.timedOutObject`, socket errors); `CancellationError`. On any error the
    ///   text gathered so far stays in the wrapper for the next call.
    public func read(_ count: Int = -1, deadline: Deadline? = nil) async throws -> String? {
        let reader = try beginRead()
        defer { readInProgress = false }
        if count == 0 { return "" }
        while count < 0 || decoded.count < count {
            switch try await fill(from: reader, deadline: deadline) {
            case .text: continue
            case .endOfStream: return decoded.take(count < 0 ? decoded.count : count)
            case .wouldBlock: return decoded.count == 0 ? nil : decoded.take(count < 0 ? decoded.count : count)
            }
        }
        return decoded.take(count)
    }

    /// Reads one line, including its line ending as the newline mode defines it (Python's
    /// `readline(limit)`); with `limit >= 0`, at most `limit` characters (Unicode scalars), the
    /// rest of the line staying for the next call.
    ///
    /// In the universal newline modes a line that ends in `\r` is returned only when the next
    /// character or the end of the stream arrives (see the type's comment).
    /// - Parameters:
    ///   - limit: at most this many characters; negative for no limit.
    ///   - deadline: an absolute limit on top of the socket's timeout, for each binary read.
    /// - Returns: the line; at the end of the stream the last line without a line ending, then
    ///   `""`; `""` when `limit == 0`; nil if the socket is non-blocking and no complete line (or
    ///   `limit` characters) is available — a partial line stays in the wrapper (CPython returns
    ///   it).
    /// - Throws: as `read`; a partial line stays in the wrapper.
    public func readLine(limit: Int = -1, deadline: Deadline? = nil) async throws -> String? {
        let reader = try beginRead()
        defer { readInProgress = false }
        return try await nextLine(from: reader, limit: limit, deadline: deadline)
    }

    /// Reads lines to the end of the stream (Python's `readlines(hint)`); with `hint > 0`, stops
    /// after the line that makes the total count of characters exceed `hint`.
    /// - Parameters:
    ///   - hint: stop once the lines hold more than this many characters; 0 or negative for no limit.
    ///   - deadline: an absolute limit on top of the socket's timeout, for each binary read.
    /// - Returns: the lines (the last one may lack a line ending; `[]` at the end of the stream);
    ///   in non-blocking mode, the complete lines available when the socket would block, or nil if
    ///   there are none.
    /// - Throws: as `read`; lines already gathered are put back, so nothing is lost.
    public func readLines(hint: Int = -1, deadline: Deadline? = nil) async throws -> [String]? {
        let reader = try beginRead()
        defer { readInProgress = false }
        var lines: [String] = []
        var total = 0
        do {
            while true {
                guard let line = try await nextLine(from: reader, limit: -1, deadline: deadline) else {
                    return lines.isEmpty ? nil : lines
                }
                if line.isEmpty { return lines }
                lines.append(line)
                total += line.unicodeScalars.count
                if hint > 0 && total > hint { return lines }
            }
        } catch {
            decoded.putBack(lines.joined())
            throw error
        }
    }

    /// The lines of the file as an asynchronous sequence (Python's `for line in file`), read with
    /// `readLine()`. The sequence ends at the end of the stream.
    ///
    /// Iteration throws what `readLine` throws, and `IOError` `.wouldBlock` when the socket is
    /// non-blocking and no complete line is available (a partial line stays in the wrapper;
    /// iterate again later). CPython ends the iteration there instead.
    public var lines: TextLines { TextLines(file: self) }

    // MARK: Internals

    /// What one `fill` achieved.
    enum FillOutcome {
        /// More text is available.
        case text
        /// The reader reported the end of the stream (everything received is decoded now).
        case endOfStream
        /// The reader would block (non-blocking mode).
        case wouldBlock
    }

    /// The loop of `readLine`, without the checks.
    func nextLine(from reader: any BinaryReading, limit: Int, deadline: Deadline?) async throws -> String? {
        if limit == 0 { return "" }
        var ended = false
        while true {
            if let length = decoded.firstLineLength() {
                return decoded.take(limit >= 0 ? min(length, limit) : length)
            }
            if limit >= 0 && decoded.count >= limit { return decoded.take(limit) }
            if ended { return decoded.takeAll() }
            switch try await fill(from: reader, deadline: deadline) {
            case .text: continue
            case .endOfStream: ended = true
            case .wouldBlock: return nil
            }
        }
    }

    /// Makes more text available: decodes bytes already received, else reads from `reader` until
    /// some new text can be decoded, the end of the stream, or would-block.
    /// - Throws: the reader's errors (nothing consumed); `.decodingFailed` when decoding is stuck at
    ///   an invalid sequence under `.strict` (the sequence is dropped).
    func fill(from reader: any BinaryReading, deadline: Deadline?) async throws -> FillOutcome {
        if decoder.hasUndecodedBytes, try decodeReceived(final: false) { return .text }
        while true {
            guard let bytes = try await reader.read1(Self.chunkSize, deadline: deadline) else {
                return .wouldBlock
            }
            if bytes.isEmpty {
                defer { decoded.finish() }
                _ = try decodeReceived(final: true)
                return .endOfStream
            }
            decoder.feed(bytes)
            if try decodeReceived(final: false) { return .text }
        }
    }

    /// Decodes the bytes received so far into `decoded`.
    /// - Returns: true if new text became available.
    /// - Throws: `.decodingFailed` if decoding stopped at an invalid sequence without producing
    ///   text first (when it did produce text, the error is left for the next call).
    func decodeReceived(final: Bool) throws -> Bool {
        var fresh: [Unicode.Scalar] = []
        let failure = decoder.decode(into: &fresh, final: final)
        if decoded.append(fresh) { return true }
        if let failure {
            decoder.discard(failure)
            throw failure.error
        }
        return false
    }
}

/// The lines of a `TextIOWrapper` as an asynchronous sequence; see `TextIOWrapper.lines`.
public struct TextLines: AsyncSequence, Sendable {
    /// Each element is one line, with its line ending (the last line may lack one).
    public typealias Element = String
    /// The file whose lines are read.
    public let file: TextIOWrapper

    /// Reads the file's lines one by one.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let file: TextIOWrapper

        /// The next line, or nil at the end of the stream.
        /// - Throws: what `TextIOWrapper.readLine` throws; `IOError` `.wouldBlock` when the socket
        ///   is non-blocking and no complete line is available.
        public mutating func next() async throws -> String? {
            guard let line = try await file.readLine() else { throw IOError.wouldBlock() }
            return line.isEmpty ? nil : line
        }
    }

    /// An iterator that reads the file's lines from where the file stands now.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(file: file) }
}
