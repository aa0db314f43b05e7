/// CPython's `io.TextIOWrapper` as `socket.makefile` uses it: text over a buffered binary reader
/// and/or writer (``BinaryReading``, ``BinaryWriting``), in UTF-8 or Latin-1 (``TextEncoding``),
/// with Python's `errors` and `newline` rules (``CodecErrorPolicy``, ``NewlineMode``).
///
/// Counts are in Unicode scalars (Python's code points), not grapheme clusters.
///
/// **Results.** Reads return text, `""` at the end of the stream, and nil for "would block"
/// (non-blocking mode only) when nothing complete is available — at every entry point, where
/// CPython 3.11 returns `""` or raises `TypeError`.
///
/// **Nothing is lost.** Text decoded but not returned, a held `\r`, and bytes not yet decoded (the
/// start of a character split across reads) stay inside the wrapper when a call throws (timeout,
/// cancellation, a closed socket) or would block; the next call continues with them. The only bytes
/// ever dropped are an invalid sequence reported by a `.decodingFailed` error under `.strict`.
///
/// **The trailing-`\r` wait (as CPython).** In the ``NewlineMode/universal`` and ``NewlineMode/universalUntranslated`` newline
/// modes a `\r` at the end of the data received so far may be the first half of `\r\n`, so it is
/// held back until the next character arrives: `readLine()` on `abc\r` waits for another byte (and
/// throws `.timedOut` if the socket's timeout passes first; `abc\r` is kept), `read(4)` returns
/// after `abc` only when the socket would block. At the end of the stream the `\r` ends the line.
/// Protocols whose prompts end in a bare `\r` should use ``NewlineMode/cr`` or ``NewlineMode/crlf``.
///
/// **Writes** are encoded at once (all or nothing) and handed to the binary writer, which buffers
/// them until `flush()` or `close()`; there is no line buffering (as `makefile`).
///
/// **Decode errors.** Under ``CodecErrorPolicy/strict``, text before an invalid byte sequence is served as usual;
/// the call that needs text past it throws ``IOError/Kind/decodingFailed``, dropping just that sequence, and the
/// next call continues after it.
///
/// One green thread at a time may read, and one may write; a second one gets `IOError` `.busy`.
public final class TextIOWrapper: @unchecked Sendable {
    /// The binary reader (Python's `buffer` when reading); nil for a write-only wrapper.
    public let reader: (any BinaryReading)?
    /// The binary writer (Python's `buffer` when writing); nil for a read-only wrapper.
    public let writer: (any BinaryWriting)?
    /// The encoding of both directions.
    public let encoding: TextEncoding
    /// What happens to undecodable bytes and unencodable characters.
    public let errors: CodecErrorPolicy
    /// How lines end when reading and how `\n` is written.
    public let newline: NewlineMode
    /// The mode string given at creation, unchanged (e.g. "r", "w", "rw", ""), as `makefile` sets it.
    public let mode: String

    var decoder: TextDecoder
    var decoded: DecodedText
    let encoder: TextEncoder
    /// Encoded bytes the writer would not take yet (non-blocking); sent before anything else.
    var unsentBytes: [UInt8] = []
    var closeCalled = false
    var readInProgress = false
    var writeInProgress = false

    /// How many bytes one read from the binary reader asks for (Python's `_CHUNK_SIZE`).
    static let chunkSize = 8192

    /// Makes a text file over `reader` and/or `writer` (Python's `TextIOWrapper(buffer, encoding,
    /// errors, newline)` followed by `mode = ...`). At least one of them should be given; a
    /// wrapper without a reader throws "not readable" on reads, one without a writer "not
    /// writable" on writes. When both are the same object (a read-write pair) it is closed once.
    public init(reader: (any BinaryReading)?, writer: (any BinaryWriting)?,
                encoding: TextEncoding = .utf8, errors: CodecErrorPolicy = .strict,
                newline: NewlineMode = .universal, mode: String) {
        self.reader = reader
        self.writer = writer
        self.encoding = encoding
        self.errors = errors
        self.newline = newline
        self.mode = mode
        decoder = TextDecoder(encoding: encoding, policy: errors)
        decoded = DecodedText(newline: newline)
        encoder = TextEncoder(encoding: encoding, policy: errors, newline: newline)
    }

    /// The socket's descriptor while open, -1 once closed (CPython's `name`, from the binary layer).
    public var name: Int32 { reader?.name ?? writer?.name ?? -1 }

    /// True once `close()` was called, or once the underlying binary object was closed (the
    /// writer if there is one, else the reader).
    public var isClosed: Bool {
        if closeCalled { return true }
        if let writer { return writer.isClosed }
        if let reader { return reader.isClosed }
        return false
    }

    /// Whether the wrapper reads (Python's `readable()`).
    /// - Throws: `IOError` `.invalidArgument` "I/O operation on closed file." once closed.
    public func readable() throws -> Bool {
        try checkOpen()
        return reader != nil
    }

    /// Whether the wrapper writes (Python's `writable()`).
    /// - Throws: `IOError` `.invalidArgument` "I/O operation on closed file." once closed.
    public func writable() throws -> Bool {
        try checkOpen()
        return writer != nil
    }

    /// Always false: sockets cannot seek.
    /// - Throws: `IOError` `.invalidArgument` "I/O operation on closed file." once closed.
    public func seekable() throws -> Bool {
        try checkOpen()
        return false
    }

    /// Flushes what was written (see `flush`), then closes the writer and the reader. The
    /// wrapper ends closed even if flushing fails (then unsent bytes are dropped and the first
    /// error is thrown, as in CPython). Decoded text not yet read is dropped. Idempotent.
    /// - Throws: as `flush`; `CancellationError`.
    public func close(deadline: Deadline? = nil) async throws {
        guard !closeCalled else { return }
        closeCalled = true
        var firstError: (any Error)?
        if let writer {
            do {
                if !writer.isClosed { try await sendUnsentBytes(to: writer, deadline: deadline) }
            } catch {
                firstError = error
            }
            unsentBytes = []
            do { try await writer.close() } catch { firstError = firstError ?? error }
        }
        reader?.close()
        decoded.removeAll()
        if let firstError { throw firstError }
    }

    // MARK: Checks

    static let closedError = IOError.invalidArgument("I/O operation on closed file.")

    func checkOpen() throws {
        if isClosed { throw Self.closedError }
    }

    /// Checks that reads may start and marks one as in progress; pair with `endRead()`.
    func beginRead() throws -> any BinaryReading {
        try checkOpen()
        guard let reader else { throw IOError(.unsupportedOperation, "not readable") }
        guard !readInProgress else {
            throw IOError(.busy, "another green thread is reading this text file")
        }
        readInProgress = true
        return reader
    }

    /// Checks that writes may start and marks one as in progress; the caller resets
    /// `writeInProgress`.
    func beginWrite() throws -> any BinaryWriting {
        try checkOpen()
        guard let writer else { throw IOError(.unsupportedOperation, "not writable") }
        guard !writeInProgress else {
            throw IOError(.busy, "another green thread is writing this text file")
        }
        writeInProgress = true
        return writer
    }
}
