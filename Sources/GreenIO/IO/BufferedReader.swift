/// CPython's `io.BufferedReader` over a ``SocketIO``, with GreenIO's two promises on top:
///
/// - **Nothing received is ever lost.** A timeout, would-block or error in the middle of a read
///   leaves every byte already received in the buffer, for the next call. (CPython drops the bytes a
///   failed `readline` or `read(n)` had collected.)
/// - **nil means "would block", an empty result means end of stream**, at every entry point. nil only
///   happens in non-blocking mode; blocking and timeout modes wait instead. (CPython returns `b''`
///   for both from `readline`, `read1` and `peek`.)
///
/// Every reading method serves buffered bytes first and calls the raw object only when the request
/// cannot be met from the buffer, and never once it has been met (bpo-9550). Each raw read obeys the
/// socket's timeout; `deadline` adds an absolute limit for the whole call. After a raw read timed out,
/// ``BufferedReader/timeoutPolicy`` decides whether later raw reads fail ("cannot read from timed
/// out object", CPython's latch, the default) or simply continue (``TimeoutPolicy/resumable``).
///
/// Lines: ``BufferedReader/readLine(limit:deadline:)`` is CPython's `readline`;
/// ``BufferedReader/readLine(maxLength:deadline:)`` and
/// ``BufferedReader/read(until:limit:strict:deadline:)`` refuse an over-long line with
/// ``IOError/Kind/lineTooLong`` instead of splitting it; ``BufferedReader/withLine(maxLength:deadline:_:)``
/// lends a line in place without copying it; ``BufferedReader/lines`` iterates. An incremental
/// parser works on the buffer with ``BufferedReader/consumeBuffered(_:)`` and
/// ``BufferedReader/fill(room:deadline:)``.
///
/// Memory: a reader with nothing buffered frees its buffer before it reads, waits for input without
/// it (except in non-blocking mode, where it frees it again after a would-block), and allocates it
/// when bytes are there — small unless reads have been large — so a connection parked between
/// messages holds none.
///
/// A reader is used by one green thread at a time; a second, concurrent call fails with
/// ``IOError/Kind/busy``.
public final class BufferedReader: BinaryReading, @unchecked Sendable {
    /// The raw file object underneath.
    public let raw: SocketIO
    /// The buffer size (CPython's `buffer_size`): how much one raw read asks for. Lines and reads
    /// longer than this grow the buffer for as long as they need it.
    public let bufferSize: Int
    /// True once `close()` was called.
    @exclusivity(unchecked) public private(set) var isClosed = false

    @exclusivity(unchecked) var buffer: ReadBuffer
    @exclusivity(unchecked) var isBusy = false

    static let newline: [UInt8] = [UInt8(ascii: "\n")]

    /// Makes a buffered reader over `raw`.
    /// - Throws: `IOError` `.invalidArgument` "buffer size must be strictly positive" for
    ///   `bufferSize <= 0`; `.unsupportedOperation` "File or stream is not readable." if `raw` was
    ///   not opened for reading.
    public init(_ raw: SocketIO, bufferSize: Int = 8192) throws {
        guard bufferSize > 0 else { throw IOError.invalidArgument("buffer size must be strictly positive") }
        guard try raw.readable() else { throw IOError(.unsupportedOperation, "File or stream is not readable.") }
        self.raw = raw
        self.bufferSize = bufferSize
        buffer = ReadBuffer(normalCapacity: bufferSize)
    }

    deinit {
        // Dropping the reader drops the raw object, which releases its socket reference.
        buffer.deallocate()
    }

    /// What happens to reads after a raw read timed out (forwarded to the raw object).
    public var timeoutPolicy: TimeoutPolicy {
        get { raw.timeoutPolicy }
        set { raw.timeoutPolicy = newValue }
    }

    /// The number of bytes received and not yet handed out.
    public var bufferedByteCount: Int { buffer.count }

    /// The descriptor, -1 once closed (CPython's `name`).
    public var name: Int32 { raw.name }

    /// "rb" or "rwb", from the raw object.
    public var mode: String { raw.mode }

    // MARK: Entry and exit

    /// Marks the reader busy for one call; fails if closed or already busy.
    @inline(__always) func enter(_ operation: String) throws {
        if isClosed { throw IOError.invalidArgument("\(operation) of closed file") }
        if isBusy { throw IOError(.busy, "reentrant call inside BufferedReader: another green thread is reading") }
        isBusy = true
    }

    @inline(__always) func leave() { isBusy = false }

    /// The bytes of storage the reader holds now (0 while it waits for input with nothing buffered).
    var storageCapacity: Int { buffer.storage.count }

    /// One raw read into the buffer's free space (at least `minimum` bytes of it).
    ///
    /// With nothing buffered, the reader first gives its storage back and (unless non-blocking)
    /// waits until the raw object is readable, so a connection parked between messages holds no
    /// buffer; the storage is allocated again once bytes are there (small, unless the last first
    /// read was large: `ReadBuffer.freeSpace(atLeast:)`).
    /// - Returns: the raw result: the count (0 = end of stream) or nil for "would block".
    func fill(atLeast minimum: Int, deadline: Deadline?) async throws -> Int? {
        try await fillInline(atLeast: minimum, deadline: deadline)
    }

    /// `fill(atLeast:deadline:)`, inlined into the line scanner (`locate`), which every line read
    /// and lend goes through: one async frame less per read.
    @inline(__always)
    func fillInline(atLeast minimum: Int, deadline: Deadline?) async throws -> Int? {
        if buffer.count == 0 {
            buffer.releaseIfEmpty()
            try await raw.waitUntilReadable(deadline: deadline, unlessNonBlocking: true)
        }
        let space = buffer.freeSpace(atLeast: minimum)
        do {
            guard let got = try await raw.readInto(space, deadline: deadline) else {
                buffer.releaseIfEmpty()
                return nil
            }
            buffer.didFill(got)
            if got == 0 { buffer.releaseIfEmpty() }
            return got
        } catch {
            // A TLS stream that ended without close_notify (not suppressed) is still an end: what
            // arrived before it is delivered as at any end of stream, and the next read, with nothing
            // buffered, gets the error (TLS sockets make it sticky).
            if buffer.count > 0 && IOError.isKind(error, .tlsEOF) { return 0 }
            throw error
        }
    }

    // MARK: Reading

    /// Reads `count` bytes, or to the end of the stream when `count` is -1 (CPython's `read(n)`).
    ///
    /// Keeps reading until `count` bytes are there, the stream ends, or (non-blocking) the socket
    /// would block; then returns what it has.
    /// - Returns: the bytes (shorter only at the end of the stream or on would-block; empty at the
    ///   end of the stream or for `count == 0`); nil when non-blocking and nothing is buffered.
    /// - Throws: `IOError` `.invalidArgument` "read length must be non-negative or -1" for
    ///   `count < -1`, "read of closed file"; `.timedOut`, `.timedOutObject`, socket errors,
    ///   `CancellationError` — with every received byte still buffered.
    public func read(_ count: Int = -1, deadline: Deadline? = nil) async throws -> [UInt8]? {
        guard count >= -1 else { throw IOError.invalidArgument("read length must be non-negative or -1") }
        try enter("read")
        defer { leave() }
        if count == -1 { return try await readToEnd(deadline: deadline) }
        while buffer.count < count {
            guard let got = try await fill(atLeast: count - buffer.count, deadline: deadline) else {
                return buffer.count > 0 ? buffer.take(buffer.count) : nil
            }
            if got == 0 { break }
        }
        return buffer.take(Swift.min(count, buffer.count))
    }

    private func readToEnd(deadline: Deadline?) async throws -> [UInt8]? {
        while true {
            guard let got = try await fill(atLeast: bufferSize, deadline: deadline) else {
                return buffer.count > 0 ? buffer.take(buffer.count) : nil
            }
            if got == 0 { return buffer.take(buffer.count) }
        }
    }

    /// Returns at most `count` bytes with at most one raw read (CPython's `read1`): buffered bytes
    /// if there are any (no raw read), else whatever one raw read of up to `max(count, bufferSize)`
    /// gives. `count < 0` means "whatever is at hand".
    /// - Returns: the bytes; empty at the end of the stream or for `count == 0`; nil when
    ///   non-blocking and nothing can be read now.
    /// - Throws: as `read(_:deadline:)`.
    public func read1(_ count: Int = -1, deadline: Deadline? = nil) async throws -> [UInt8]? {
        try enter("read")
        defer { leave() }
        if count == 0 { return [] }
        if buffer.count == 0 {
            guard try await fill(atLeast: Swift.max(count, bufferSize), deadline: deadline) != nil else { return nil }
        }
        return buffer.take(count < 0 ? buffer.count : Swift.min(count, buffer.count))
    }

    /// Returns buffered bytes without consuming them (CPython's `peek`): what is buffered if
    /// anything is (its size is not tied to `count`), else the result of one raw read.
    /// - Returns: the bytes; empty at the end of the stream; nil when non-blocking and nothing can
    ///   be read now.
    /// - Throws: as `read(_:deadline:)`.
    public func peek(_ count: Int = 0, deadline: Deadline? = nil) async throws -> [UInt8]? {
        try enter("peek")
        defer { leave() }
        if buffer.count == 0 {
            guard try await fill(atLeast: bufferSize, deadline: deadline) != nil else { return nil }
        }
        return Array(buffer.bytes)
    }

    /// Lends the buffered bytes to `body` without copying them, then drops the first `consumed`
    /// bytes `body` returns (Go's `bufio.Reader.Peek` + `Discard` in one call; CPython has no
    /// equivalent). Never touches the socket: a parser uses it to take whole messages that have
    /// already arrived, and falls back to the reading methods when a message is incomplete.
    ///
    /// The pointer is valid only inside `body`; it may be empty. When `body` throws, nothing is
    /// dropped.
    /// - Returns: `body`'s value.
    /// - Throws: `IOError` `.invalidArgument` "read of closed file", or "consumed count out of range"
    ///   (nothing dropped) if `consumed` is negative or above the buffered count; `.busy` while another
    ///   green thread is reading; whatever `body` throws.
    public func consumeBuffered<Value>(
        _ body: (UnsafeRawBufferPointer) throws -> (consumed: Int, value: Value)
    ) throws -> Value {
        try enter("read")
        defer { leave() }
        let (consumed, value) = try body(buffer.bytes)
        guard (0...buffer.count).contains(consumed) else {
            throw IOError.invalidArgument("consumed count out of range")
        }
        if consumed > 0 { buffer.consume(consumed) }
        return value
    }

    /// One raw read that appends to the buffered bytes, whatever is buffered already (the buffer
    /// grows as needed; CPython has no equivalent). An incremental parser uses it with
    /// `consumeBuffered(_:)`: parse what is buffered, and when a message is incomplete, `fill` and
    /// parse again. Memory grows only with bytes that arrive, and with `room`.
    ///
    /// The read is offered at least half the buffer size of free space, and at least `room` bytes:
    /// a parser that knows how much of a message is still missing (the rest of a large body) asks
    /// for room for it, so that it arrives in few reads, and bounds `room` itself (the buffer grows
    /// to hold it before the bytes arrive).
    /// - Returns: how many bytes were added; 0 at the end of the stream; nil when non-blocking and
    ///   nothing can be read now.
    /// - Throws: `IOError` `.invalidArgument` "read of closed file"; `.busy`; `.timedOut`,
    ///   `.timedOutObject`, socket errors, `CancellationError` — with every buffered byte kept.
    public func fill(room: Int = 0, deadline: Deadline? = nil) async throws -> Int? {
        try enter("read")
        defer { leave() }
        return try await fill(atLeast: Swift.max(bufferSize - buffer.count, bufferSize / 2, room), deadline: deadline)
    }

    /// Fills `destination` completely unless the stream ends or (non-blocking) the socket would
    /// block (CPython's `readinto`). A destination larger than the buffer is read into directly.
    /// - Returns: the number of bytes stored (0 at the end of the stream or for an empty
    ///   destination); nil when non-blocking and nothing could be read.
    /// - Throws: as `read(_:deadline:)`; bytes already stored into `destination` by this call are
    ///   put back into the buffer first, so nothing is lost.
    public func readInto(_ destination: UnsafeMutableRawBufferPointer, deadline: Deadline? = nil) async throws -> Int? {
        try enter("readinto")
        defer { leave() }
        var stored = Swift.min(buffer.count, destination.count)
        buffer.take(into: UnsafeMutableRawBufferPointer(rebasing: destination[0..<stored]))
        do {
            while stored < destination.count {
                let wanted = destination.count - stored
                let got: Int?
                if wanted >= bufferSize {
                    buffer.releaseIfEmpty()  // read straight into the destination: hold nothing meanwhile
                    got = try await raw.readInto(UnsafeMutableRawBufferPointer(rebasing: destination[stored...]), deadline: deadline)
                    if let got { stored += got }
                } else {
                    got = try await fill(atLeast: wanted, deadline: deadline)
                    let n = Swift.min(wanted, buffer.count)
                    buffer.take(into: UnsafeMutableRawBufferPointer(rebasing: destination[stored..<(stored + n)]))
                    stored += n
                }
                guard let got else { return stored > 0 ? stored : nil }
                if got == 0 { break }
            }
        } catch {
            buffer.unread(UnsafeRawBufferPointer(rebasing: destination[0..<stored]))
            throw error
        }
        return stored
    }

    /// Stores at most `destination.count` bytes with at most one raw read (CPython's `readinto1`).
    /// - Returns: the count; 0 at the end of the stream; nil when non-blocking and nothing can be
    ///   read now.
    /// - Throws: as `read(_:deadline:)`.
    public func readInto1(_ destination: UnsafeMutableRawBufferPointer, deadline: Deadline? = nil) async throws -> Int? {
        try enter("readinto")
        defer { leave() }
        if destination.count == 0 { return 0 }
        if buffer.count == 0 {
            if destination.count >= bufferSize {
                buffer.releaseIfEmpty()  // read straight into the destination: hold nothing meanwhile
                return try await raw.readInto(destination, deadline: deadline)
            }
            guard try await fill(atLeast: bufferSize, deadline: deadline) != nil else { return nil }
        }
        let n = Swift.min(destination.count, buffer.count)
        buffer.take(into: UnsafeMutableRawBufferPointer(rebasing: destination[0..<n]))
        return n
    }

    // MARK: Lines

    /// Reads one line, through its `\n` (CPython's `readline(limit)`).
    ///
    /// With `limit >= 0`, returns at most `limit` bytes: a longer line is returned in pieces of
    /// exactly `limit` bytes, the rest staying for the next call. A partial last line at the end of
    /// the stream is returned without terminator, then empty results follow.
    /// - Returns: the line; empty at the end of the stream or for `limit == 0`; nil when
    ///   non-blocking and no complete line (nor `limit` bytes) is there yet — the partial line stays
    ///   buffered (CPython returns it as if it were complete).
    /// - Throws: as `read(_:deadline:)`, with the partial line still buffered.
    public func readLine(limit: Int = -1, deadline: Deadline? = nil) async throws -> [UInt8]? {
        try await read(through: BufferedReader.newline, limit: limit, strict: false, operation: "readline", deadline: deadline)
    }

    /// Reads one line through its `\n`, refusing lines longer than `maxLength` bytes (terminator
    /// included) without consuming anything — for protocols that must reject, not split.
    /// - Returns: as `readLine(limit:deadline:)` (a final unterminated line of at most `maxLength`
    ///   bytes at the end of the stream is returned as it is).
    /// - Throws: `IOError` `.invalidArgument` "maxLength must be positive"; `.lineTooLong` "line too
    ///   long" when more than `maxLength` bytes are buffered with no `\n` among the first
    ///   `maxLength` (the bytes stay buffered); otherwise as `read(_:deadline:)`.
    public func readLine(maxLength: Int, deadline: Deadline? = nil) async throws -> [UInt8]? {
        guard maxLength > 0 else { throw IOError.invalidArgument("maxLength must be positive") }
        return try await read(through: BufferedReader.newline, limit: maxLength, strict: true, operation: "readline", deadline: deadline)
    }

    /// Reads through the first occurrence of `separator` (any byte string: `\r\n`, `\0`, …).
    ///
    /// - Parameters:
    ///   - separator: the byte string that ends a piece; not empty.
    ///   - limit: at most this many bytes, separator included (-1: no limit).
    ///   - strict: when no separator ends within the first `limit` bytes, throw `.lineTooLong`
    ///     and consume nothing once a byte beyond the limit has arrived (true; exactly `limit`
    ///     bytes followed by the end of the stream are returned), or return exactly `limit` bytes
    ///     like `readLine(limit:)` (false).
    ///   - deadline: an absolute limit for the whole call, on top of the socket's timeout.
    /// - Returns: the bytes through the separator; what is left at the end of the stream (empty
    ///   once nothing is); nil when non-blocking and the separator has not arrived yet.
    /// - Throws: `IOError` `.invalidArgument` for an empty separator; `.lineTooLong` (strict);
    ///   otherwise as `read(_:deadline:)`, with every received byte still buffered.
    public func read(until separator: [UInt8], limit: Int = -1, strict: Bool = false,
                     deadline: Deadline? = nil) async throws -> [UInt8]? {
        guard !separator.isEmpty else { throw IOError.invalidArgument("separator must not be empty") }
        return try await read(through: separator, limit: limit, strict: strict, operation: "read", deadline: deadline)
    }

    private func read(through separator: [UInt8], limit: Int, strict: Bool, operation: String,
                      deadline: Deadline?) async throws -> [UInt8]? {
        try enter(operation)
        defer { leave() }
        if limit == 0 { return [] }
        guard let length = try await locate(separator, limit: limit, strict: strict, deadline: deadline) else {
            return nil
        }
        return buffer.take(length)
    }

    /// Reads until the buffered bytes begin with a piece to hand out, and returns its length: through
    /// the first `separator`; or, without a separator within the first `limit` bytes, exactly `limit`
    /// bytes (not strict); or everything left at the end of the stream (0 once nothing is). The one
    /// scanner behind `read(through:…)`, `withLine` and `withCompleteLines`. The caller has entered.
    ///
    /// - Parameters:
    ///   - limit: at most this many bytes, separator included; negative for no limit; not 0.
    ///   - strict: throw `.lineTooLong` (consuming nothing) once more than `limit` bytes are
    ///     buffered with no separator ending within the first `limit`.
    /// - Returns: the length, or nil when non-blocking and the piece has not arrived yet.
    /// - Throws: `.lineTooLong` (strict); otherwise as `read(_:deadline:)`, with every received
    ///   byte still buffered.
    @inline(__always)
    func locate(_ separator: [UInt8], limit: Int, strict: Bool, deadline: Deadline?) async throws -> Int? {
        let bound = limit < 0 ? Int.max : limit
        // Bytes before `scanned` are known not to start a separator: each byte is scanned once,
        // however many small pieces a long line arrives in. For `\n` the buffer remembers how far
        // it searched across calls (a line that would block, timed out, or follows lent lines).
        let isNewline = separator.count == 1 && separator[0] == UInt8(ascii: "\n")
        var scanned = isNewline ? buffer.newlineFreeCount : 0
        while true {
            let found = isNewline ? buffer.firstNewline(from: scanned, within: bound)
                : buffer.firstIndex(of: separator, from: scanned, within: bound)
            if let found {
                if isNewline { buffer.newlineFreeCount = found }
                return found + separator.count
            }
            // Strict: exactly `bound` bytes with no separator may still be a final unterminated
            // line; one more byte (or the end of the stream) decides.
            if buffer.count > bound || (buffer.count == bound && !strict) {
                if isNewline { buffer.newlineFreeCount = bound }
                if strict { throw IOError(.lineTooLong, "line too long") }
                return bound
            }
            scanned = Swift.max(0, buffer.count - separator.count + 1)
            if isNewline { buffer.newlineFreeCount = scanned }
            guard let got = try await fillInline(atLeast: 1, deadline: deadline) else { return nil }
            if got == 0 { return buffer.count }
        }
    }

    /// Reads lines until the end of the stream, or until their total size strictly exceeds `hint`
    /// when `hint > 0` (CPython's `readlines(hint)`: the line that crosses it is included).
    /// - Returns: the lines (empty at the end of the stream); nil when non-blocking and no complete
    ///   line is there yet. When the socket would block after some lines, those are returned.
    /// - Throws: as `readLine`; the lines already collected are put back first, so nothing is lost.
    public func readLines(hint: Int = -1, deadline: Deadline? = nil) async throws -> [[UInt8]]? {
        var lines: [[UInt8]] = []
        var total = 0
        do {
            while true {
                guard let line = try await readLine(deadline: deadline) else {
                    return lines.isEmpty ? nil : lines
                }
                if line.isEmpty { return lines }
                lines.append(line)
                total += line.count
                if hint > 0 && total > hint { return lines }
            }
        } catch {
            let taken = Array(lines.joined())
            taken.withUnsafeBytes { buffer.unread($0) }
            throw error
        }
    }

    /// The lines of the stream, for `for try await line in reader.lines`. The sequence ends at the
    /// end of the stream; in non-blocking mode, "would block" throws `IOError` `.wouldBlock` (it
    /// cannot be nil there: nil ends a loop), with the partial line still buffered.
    public var lines: Lines { Lines(reader: self) }

    /// The async sequence of a reader's lines (see `BufferedReader.lines`).
    public struct Lines: AsyncSequence, Sendable {
        /// A line, through its `\n` (a final unterminated line at the end of the stream without).
        public typealias Element = [UInt8]
        let reader: BufferedReader

        /// Reads the lines one by one with `BufferedReader.readLine(limit:deadline:)`.
        public struct AsyncIterator: AsyncIteratorProtocol {
            let reader: BufferedReader

            /// The next line; nil at the end of the stream.
            /// - Throws: `IOError` `.wouldBlock` in non-blocking mode when no complete line is
            ///   there yet (the partial line stays buffered); otherwise as `readLine`.
            public mutating func next() async throws -> [UInt8]? {
                guard let line = try await reader.readLine() else { throw IOError.wouldBlock() }
                return line.isEmpty ? nil : line
            }
        }

        /// An iterator over the reader's lines; every iterator reads from the same reader.
        public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(reader: reader) }
    }

    // MARK: Closing

    /// Closes the reader and its raw object (releasing the socket reference). Buffered bytes are
    /// dropped. Idempotent.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        // A green thread parked in a raw read still owns a pointer into the buffer: leave the
        // memory to deinit then.
        if !isBusy { buffer.deallocate() }
        raw.close()
    }
}
