/// A file object made by `makefile`: which class CPython would return, as a Swift value
/// (conformance/cpython-semantics.md §1.5).
///
/// | mode | buffering 0 | buffered, binary | text |
/// |---|---|---|---|
/// | read ("r", "rb", "b", "") | `.raw` (mode "rb") | `.reader` | `.text` over a reader |
/// | write ("w", "wb") | `.raw` (mode "wb") | `.writer` | `.text` over a writer |
/// | read and write ("rw", "rwb") | `.raw` (mode "rwb") | `.pair` | `.text` over both |
public enum SocketFile: Sendable {
    case raw(SocketIO)
    case reader(BufferedReader)
    case writer(BufferedWriter)
    case pair(BufferedRWPair)

    /// The raw object, if this is one.
    public var raw: SocketIO? { if case .raw(let file) = self { return file } else { return nil } }
    /// The buffered reader, if this is one.
    public var reader: BufferedReader? { if case .reader(let file) = self { return file } else { return nil } }
    /// The buffered writer, if this is one.
    public var writer: BufferedWriter? { if case .writer(let file) = self { return file } else { return nil } }
    /// The read-write pair, if this is one.
    public var pair: BufferedRWPair? { if case .pair(let file) = self { return file } else { return nil } }

    /// Closes the file object (flushing a writer first; see each type's `close`).
    public func close() async throws {
        switch self {
        case .raw(let file): file.close()
        case .reader(let file): file.close()
        case .writer(let file): try await file.close()
        case .pair(let file): try await file.close()
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
    /// The raw object's mode: "rb", "wb" or "rwb".
    var rawMode: String { (reading ? "r" : "") + (writing ? "w" : "") + "b" }

    /// Python's rules: any mix of "r", "w" and "b"; "w" means write; read unless only writing.
    /// - Throws: `IOError` `.invalidArgument` "invalid mode 'x' (only r, w, b allowed)".
    init(_ mode: String) throws {
        guard mode.allSatisfy({ $0 == "r" || $0 == "w" || $0 == "b" }) else {
            throw IOError.invalidArgument("invalid mode '\(mode)' (only r, w, b allowed)")
        }
        writing = mode.contains("w")
        reading = mode.contains("r") || !writing
        binary = mode.contains("b")
    }
}

extension RawSocket {
    /// Makes a binary file object on this socket (Python's `socket.makefile` for binary modes).
    ///
    /// The file takes a reference on the socket: the connection stays open until both the socket and
    /// every file made from it are closed.
    ///
    /// - Parameters:
    ///   - mode: any combination of "r", "w" and "b" ("" and "b" mean read; "b" is implied here).
    ///   - buffering: 0 for the raw `SocketIO`, a positive buffer size, or nil / negative for
    ///     `defaultBufferSize`. 1 is a one-byte buffer, not line buffering (as in CPython).
    /// - Throws: `IOError` `.invalidArgument` "invalid mode 'x' (only r, w, b allowed)".
    public func makefile(_ mode: String = "rb", buffering: Int? = nil) throws -> SocketFile {
        let fileMode = try FileMode(mode)
        let size = (buffering ?? -1) < 0 ? defaultBufferSize : (buffering ?? defaultBufferSize)
        if size == 0 { return .raw(try makeSocketIO(mode: mode)) }
        if fileMode.reading && fileMode.writing {
            return .pair(try buffered(mode) { try BufferedRWPair($0, bufferSize: size) })
        }
        if fileMode.reading { return .reader(try buffered(mode) { try BufferedReader($0, bufferSize: size) }) }
        return .writer(try buffered(mode) { try BufferedWriter($0, bufferSize: size) })
    }

    /// A buffered reader on this socket (`makefile("rb", buffering: bufferSize)`).
    /// - Throws: `IOError` `.invalidArgument` "buffer size must be strictly positive".
    public func makeReader(bufferSize: Int = defaultBufferSize) throws -> BufferedReader {
        try buffered("rb") { try BufferedReader($0, bufferSize: bufferSize) }
    }

    /// A buffered writer on this socket (`makefile("wb", buffering: bufferSize)`).
    /// - Throws: `IOError` `.invalidArgument` "buffer size must be strictly positive".
    public func makeWriter(bufferSize: Int = defaultBufferSize) throws -> BufferedWriter {
        try buffered("wb") { try BufferedWriter($0, bufferSize: bufferSize) }
    }

    /// A buffered reader and writer on this socket (`makefile("rwb", buffering: bufferSize)`).
    /// - Throws: `IOError` `.invalidArgument` "buffer size must be strictly positive".
    public func makeReadWritePair(bufferSize: Int = defaultBufferSize) throws -> BufferedRWPair {
        try buffered("rwb") { try BufferedRWPair($0, bufferSize: bufferSize) }
    }

    /// Makes a raw file object (taking a file reference) and wraps it; on failure the reference
    /// is released again.
    private func buffered<File>(_ mode: String, _ wrap: (SocketIO) throws -> File) throws -> File {
        let raw = try makeSocketIO(mode: mode)
        do {
            return try wrap(raw)
        } catch {
            raw.close()
            throw error
        }
    }
}
