/// A file object made by ``RawSocket/makefile(_:buffering:encoding:errors:newline:)``: which class
/// CPython's `socket.makefile` would return, as a Swift value.
///
/// | mode | buffering 0 | buffered, binary | text (no "b") |
/// |---|---|---|---|
/// | read ("r", "rb", "b", "") | ``SocketFile/raw(_:)`` (mode "rb") | ``SocketFile/reader(_:)`` | ``SocketFile/text(_:)`` over a reader |
/// | write ("w", "wb") | `.raw` (mode "wb") | ``SocketFile/writer(_:)`` | `.text` over a writer |
/// | read and write ("rw", "rwb") | `.raw` (mode "rwb") | ``SocketFile/pair(_:)`` | `.text` over both |
public enum SocketFile: Sendable {
    /// Unbuffered (`buffering: 0`, binary only): the raw file object.
    case raw(SocketIO)
    /// Buffered binary, read only ("rb").
    case reader(BufferedReader)
    /// Buffered binary, write only ("wb").
    case writer(BufferedWriter)
    /// Buffered binary, read and write ("rwb").
    case pair(BufferedRWPair)
    /// Text (a mode without "b"), over a reader, a writer or both.
    case text(TextIOWrapper)

    /// The raw object, if this is one.
    public var raw: SocketIO? { if case .raw(let file) = self { return file } else { return nil } }
    /// The buffered reader, if this is one.
    public var reader: BufferedReader? { if case .reader(let file) = self { return file } else { return nil } }
    /// The buffered writer, if this is one.
    public var writer: BufferedWriter? { if case .writer(let file) = self { return file } else { return nil } }
    /// The read-write pair, if this is one.
    public var pair: BufferedRWPair? { if case .pair(let file) = self { return file } else { return nil } }
    /// The text file, if this is one.
    public var text: TextIOWrapper? { if case .text(let file) = self { return file } else { return nil } }

    /// Closes the file object (flushing a writer first; see each type's `close`).
    public func close() async throws {
        switch self {
        case .raw(let file): file.close()
        case .reader(let file): file.close()
        case .writer(let file): try await file.close()
        case .pair(let file): try await file.close()
        case .text(let file): try await file.close()
        }
    }
}

/// The buffer size `makefile` uses when none is given (Python's `io.DEFAULT_BUFFER_SIZE`).
public let defaultBufferSize = 8192

/// A validated `makefile` mode: which directions, binary or text.
struct FileMode {
    let reading: Bool
    let writing: Bool
    let binary: Bool

    /// Binary read ("rb"), write ("wb") and both ("rwb"): the modes the typed constructors use, so
    /// that making a connection's files parses no string.
    static let readBinary = FileMode(reading: true, writing: false, binary: true)
    static let writeBinary = FileMode(reading: false, writing: true, binary: true)
    static let readWriteBinary = FileMode(reading: true, writing: true, binary: true)

    /// The raw object's mode: "rb", "wb" or "rwb".
    var rawMode: String { reading ? (writing ? "rwb" : "rb") : "wb" }

    private init(reading: Bool, writing: Bool, binary: Bool) {
        self.reading = reading
        self.writing = writing
        self.binary = binary
    }

    /// Python's rules: any mix of "r", "w" and "b"; "w" means write; read unless only writing.
    /// - Throws: `IOError` `.invalidArgument` "invalid mode 'x' (only r, w, b allowed)".
    init(_ mode: String) throws {
        var reading = false, writing = false, binary = false
        for byte in mode.utf8 {
            switch byte {
            case UInt8(ascii: "r"): reading = true
            case UInt8(ascii: "w"): writing = true
            case UInt8(ascii: "b"): binary = true
            default: throw IOError.invalidArgument("invalid mode '\(mode)' (only r, w, b allowed)")
            }
        }
        self.init(reading: reading || !writing, writing: writing, binary: binary)
    }
}

extension RawSocket {
    /// Makes a file object on this socket (Python's `socket.makefile`), by the class table of
    /// ``SocketFile``.
    ///
    /// The file takes a reference on the socket: the connection stays open until both the socket and
    /// every file made from it are closed.
    ///
    /// - Parameters:
    ///   - mode: any combination of "r", "w" and "b"; "" and "b" mean read; without "b" the file is
    ///     text. The text file's `mode` is this string, unchanged.
    ///   - buffering: 0 for the raw `SocketIO` (binary only), a positive buffer size, or nil /
    ///     negative for `defaultBufferSize`. 1 is a one-byte buffer, not line buffering (as in CPython).
    ///   - encoding: for text files, the character encoding (Python's `encoding`; default UTF-8).
    ///   - errors: for text files, what to do with bytes that cannot be decoded and characters
    ///     that cannot be encoded (Python's `errors`; default strict).
    ///   - newline: for text files, how lines end (Python's `newline`; default universal newlines).
    /// - Throws: `IOError` `.invalidArgument` "invalid mode 'x' (only r, w, b allowed)" or
    ///   "unbuffered streams must be binary".
    public func makefile(_ mode: String = "r", buffering: Int? = nil, encoding: TextEncoding = .utf8,
                         errors: CodecErrorPolicy = .strict, newline: NewlineMode = .universal) throws -> SocketFile {
        let fileMode = try FileMode(mode)
        let size = (buffering ?? -1) < 0 ? defaultBufferSize : (buffering ?? defaultBufferSize)
        if size == 0 {
            guard fileMode.binary else { throw IOError.invalidArgument("unbuffered streams must be binary") }
            return .raw(try makeSocketIO(fileMode))
        }
        let binary: SocketFile
        if fileMode.reading && fileMode.writing {
            binary = .pair(try buffered(fileMode) { try BufferedRWPair($0, bufferSize: size) })
        } else if fileMode.reading {
            binary = .reader(try buffered(fileMode) { try BufferedReader($0, bufferSize: size) })
        } else {
            binary = .writer(try buffered(fileMode) { try BufferedWriter($0, bufferSize: size) })
        }
        if fileMode.binary { return binary }
        let reader: (any BinaryReading)? = binary.pair?.reader ?? binary.reader
        let writer: (any BinaryWriting)? = binary.pair?.writer ?? binary.writer
        return .text(TextIOWrapper(reader: reader, writer: writer, encoding: encoding, errors: errors,
                                   newline: newline, mode: mode))
    }

    /// A text file on this socket (`makefile(mode)` for a mode without "b").
    /// - Throws: as `makefile`; `.invalidArgument` if `mode` contains "b".
    public func makeTextFile(_ mode: String = "r", bufferSize: Int = defaultBufferSize, encoding: TextEncoding = .utf8,
                             errors: CodecErrorPolicy = .strict, newline: NewlineMode = .universal) throws -> TextIOWrapper {
        guard !mode.contains("b") else { throw IOError.invalidArgument("binary mode doesn't take an encoding argument") }
        guard bufferSize > 0 else { throw IOError.invalidArgument("buffer size must be strictly positive") }
        let file = try makefile(mode, buffering: bufferSize, encoding: encoding, errors: errors, newline: newline)
        guard let text = file.text else { throw IOError.invalidArgument("invalid mode '\(mode)'") }
        return text
    }

    /// A buffered reader on this socket (`makefile("rb", buffering: bufferSize)`).
    /// - Throws: `IOError` `.invalidArgument` "buffer size must be strictly positive".
    public func makeReader(bufferSize: Int = defaultBufferSize) throws -> BufferedReader {
        try buffered(.readBinary) { try BufferedReader($0, bufferSize: bufferSize) }
    }

    /// A buffered writer on this socket (`makefile("wb", buffering: bufferSize)`).
    /// - Throws: `IOError` `.invalidArgument` "buffer size must be strictly positive".
    public func makeWriter(bufferSize: Int = defaultBufferSize) throws -> BufferedWriter {
        try buffered(.writeBinary) { try BufferedWriter($0, bufferSize: bufferSize) }
    }

    /// A buffered reader and writer on this socket (`makefile("rwb", buffering: bufferSize)`).
    /// - Throws: `IOError` `.invalidArgument` "buffer size must be strictly positive".
    public func makeReadWritePair(bufferSize: Int = defaultBufferSize) throws -> BufferedRWPair {
        try buffered(.readWriteBinary) { try BufferedRWPair($0, bufferSize: bufferSize) }
    }

    /// Makes a raw file object (taking a file reference) and wraps it; on failure the reference
    /// is released again.
    private func buffered<File>(_ mode: FileMode, _ wrap: (SocketIO) throws -> File) throws -> File {
        let raw = try makeSocketIO(mode)
        do {
            return try wrap(raw)
        } catch {
            raw.close()
            throw error
        }
    }
}
