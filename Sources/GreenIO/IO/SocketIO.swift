/// CPython's `socket.SocketIO`: the raw (unbuffered) file object over any ``RawSocket``.
///
/// Reads return nil for "would block" (non-blocking mode only) and an empty result or 0 for the end
/// of the stream. A read that times out throws ``IOError`` ``IOError/Kind/timedOut`` and, under the
/// default ``TimeoutPolicy/latch`` (``SocketIO/timeoutPolicy``), every later read of this object
/// fails with "cannot read from timed out object" without touching the socket. Writes return nil
/// for "would block" and have no latch. ``BufferedReader`` and ``BufferedWriter`` sit on top of it.
///
/// Closing the object releases its reference on the socket: the connection closes when the socket
/// and every file object made from it are closed.
public final class SocketIO: @unchecked Sendable {
    // The state is used by one green thread at a time and never lent across a suspension
    // (`@exclusivity(unchecked)`: dynamic exclusivity checks cost about 150 instructions an access,
    // several accesses a read, on every line a buffered reader reads).

    /// The socket; nil once this object is closed.
    @exclusivity(unchecked) public private(set) var socket: (any RawSocket)?
    /// "rb", "wb" or "rwb".
    public let mode: String
    let reading: Bool
    let writing: Bool
    /// True once `close()` was called.
    @exclusivity(unchecked) public private(set) var isClosed = false
    /// True once a read timed out (CPython's `_timeout_occurred`); never cleared.
    @exclusivity(unchecked) public private(set) var timeoutOccurred = false
    /// What happens to reads after a timeout; CPython's latch by default.
    @exclusivity(unchecked) public var timeoutPolicy: TimeoutPolicy = .latch
    /// Bytes received through this object so far (GreenIO's addition, for per-connection
    /// accounting; after TLS, the application's bytes).
    @exclusivity(unchecked) public private(set) var bytesRead = 0
    /// Bytes sent through this object so far.
    @exclusivity(unchecked) public private(set) var bytesWritten = 0
    /// `socket` as its concrete type when it is GreenIO's own (nil otherwise, and once closed): the
    /// raw calls go to it directly instead of through the protocol's witness table. A witness call
    /// costs an async thunk frame, and the compiler must check the executor after it (a runtime
    /// call that looks up the green thread's executor preference under a lock); a direct call to
    /// a `nonisolated(nonsending)` method needs neither. Measured: about 1,200 instructions per
    /// echoed line at one line in flight.
    @exclusivity(unchecked) private var plainSocket: Socket?
    @exclusivity(unchecked) private var tlsSocket: TLSSocket?

    /// Makes a raw file object over `socket` (Python's `SocketIO(sock, mode)`). Like CPython's
    /// constructor it does not take a file reference on the socket; `makeSocketIO(mode:)` does.
    ///
    /// - Parameters:
    ///   - socket: the socket to read from and write to.
    ///   - mode: one of "r", "w", "rw", "rb", "wb", "rwb"; normalised to end in "b".
    /// - Throws: `IOError` `.invalidArgument` "invalid mode: 'x'" for anything else.
    public convenience init(_ socket: any RawSocket, mode: String) throws {
        switch mode {
        case "r", "rb": self.init(socket, fileMode: .readBinary)
        case "w", "wb": self.init(socket, fileMode: .writeBinary)
        case "rw", "rwb": self.init(socket, fileMode: .readWriteBinary)
        default: throw IOError.invalidArgument("invalid mode: '\(mode)'")
        }
    }

    /// Makes a raw file object over `socket` in a validated mode (its `rawMode`).
    init(_ socket: any RawSocket, fileMode: FileMode) {
        self.socket = socket
        plainSocket = socket as? Socket
        tlsSocket = socket as? TLSSocket
        mode = fileMode.rawMode
        reading = fileMode.reading
        writing = fileMode.writing
    }

    deinit {
        // An object dropped without close() releases its reference (CPython does this from GC).
        if !isClosed, let socket { socket.releaseFileReference() }
    }

    // MARK: Checks

    private func checkClosed() throws -> any RawSocket {
        guard !isClosed, let socket else { throw IOError.invalidArgument("I/O operation on closed file.") }
        return socket
    }

    private func checkClosedSocket() throws {
        if isClosed { throw IOError.invalidArgument("I/O operation on closed socket.") }
    }

    /// Whether the object was opened for reading.
    /// - Throws: `IOError` `.invalidArgument` "I/O operation on closed socket." once closed.
    public func readable() throws -> Bool {
        try checkClosedSocket()
        return reading
    }

    /// Whether the object was opened for writing.
    /// - Throws: `IOError` `.invalidArgument` "I/O operation on closed socket." once closed.
    public func writable() throws -> Bool {
        try checkClosedSocket()
        return writing
    }

    /// Always false: sockets cannot seek.
    /// - Throws: `IOError` `.invalidArgument` "I/O operation on closed socket." once closed.
    public func seekable() throws -> Bool {
        try checkClosedSocket()
        return false
    }

    /// The socket's descriptor.
    /// - Throws: `IOError` `.invalidArgument` "I/O operation on closed file." once closed.
    public func fileno() throws -> Int32 {
        try checkClosed().fileDescriptor
    }

    /// The descriptor while open, -1 once closed (CPython's `name`).
    public var name: Int32 {
        guard !isClosed, let socket else { return -1 }
        return socket.fileDescriptor
    }

    /// Always fails: sockets cannot seek.
    /// - Throws: `IOError` `.unsupportedOperation` "seek".
    public func tell() throws -> Int {
        throw IOError(.unsupportedOperation, "seek")
    }

    /// Always fails: sockets cannot seek.
    /// - Throws: `IOError` `.unsupportedOperation` "seek".
    public func seek(_ offset: Int) throws -> Int {
        throw IOError(.unsupportedOperation, "seek")
    }

    // MARK: Reading

    /// Reads at most `buffer.count` bytes with one raw receive (CPython's `readinto`).
    ///
    /// - Parameters:
    ///   - buffer: where the bytes go.
    ///   - deadline: an absolute limit on top of the socket's timeout.
    /// - Returns: the count (0 = end of stream, or an empty buffer), or nil if the socket is
    ///   non-blocking and nothing can be read now (whatever produced it: `EAGAIN`, TLS want-read or
    ///   want-write).
    /// - Throws: `IOError` `.invalidArgument` "I/O operation on closed file.";
    ///   `.unsupportedOperation` "File or stream is not readable."; `.timedOutObject` "cannot read
    ///   from timed out object" after an earlier timeout under `.latch`; `.timedOut`, which sets
    ///   the latch when the socket's timeout expired (not when only `deadline` did); any other
    ///   socket error unchanged; `CancellationError`.
    @inline(__always) public func readInto(_ buffer: UnsafeMutableRawBufferPointer, deadline: Deadline? = nil) async throws -> Int? {
        try checkReadable()
        do {
            let outcome: IOOutcome
            if let plainSocket {
                outcome = try await plainSocket.receive(into: buffer, deadline: deadline)
            } else if let tlsSocket {
                outcome = try await tlsSocket.receive(into: buffer, deadline: deadline)
            } else {
                outcome = try await receiveFromOther(into: buffer, deadline: deadline)
            }
            switch outcome {
            case .completed(let count):
                bytesRead &+= count
                return count
            case .wouldBlock: return nil
            }
        } catch {
            throw latchIfTimedOut(error, deadline: deadline)
        }
    }

    /// `receive` on a `RawSocket` of another type, through the protocol. Out of line, so that the
    /// callers' async frames (a reader's, inlined) hold two call sites, not three: those frames
    /// stay on an idle connection's stack.
    @inline(never)
    private func receiveFromOther(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline?) async throws -> IOOutcome {
        try await checkClosed().receive(into: buffer, deadline: deadline)
    }

    /// `waitUntilReadable` on a `RawSocket` of another type (see `receiveFromOther`).
    @inline(never)
    private func waitForOther(deadline: Deadline?, unlessNonBlocking: Bool) async throws {
        let socket = try checkClosed()
        if unlessNonBlocking && socket.timeout == .nonBlocking { return }
        try await socket.waitUntilReadable(deadline: deadline)
    }

    /// Checks that the object is open, readable and not latched, before a read. (The socket is
    /// taken only after the checks, from `plainSocket`, `tlsSocket` or `socket`: one reference
    /// held across the call, not two.)
    @inline(__always) private func checkReadable() throws {
        if isClosed { throw IOError.invalidArgument("I/O operation on closed file.") }
        guard reading else { throw IOError(.unsupportedOperation, "File or stream is not readable.") }
        if timeoutOccurred && timeoutPolicy == .latch {
            throw IOError(.timedOutObject, "cannot read from timed out object")
        }
    }

    /// Sets the latch if `error` is a read's timeout, and returns `error`. The latch is CPython's
    /// answer to the socket's timeout. A caller's deadline is a GreenIO budget the caller may
    /// renew, so its expiry does not latch. (Synchronous and out of line: the cast's temporaries
    /// stay out of the inlined callers' async frames.)
    @inline(never)
    private func latchIfTimedOut(_ error: any Error, deadline: Deadline?) -> any Error {
        if let ioError = error as? IOError, ioError.kind == .timedOut, deadline.map({ !$0.hasPassed }) ?? true {
            timeoutOccurred = true
        }
        return error
    }

    /// Parks the calling green thread until a read would make progress — bytes, the end of the
    /// stream or an error are waiting — without a buffer (`RawSocket.waitUntilReadable`); no
    /// CPython equivalent. It may return early (the read that follows then waits as usual), and
    /// returns at once in non-blocking mode. A buffered reader waits this way so that a connection
    /// parked between messages holds no buffer.
    ///
    /// - Parameter deadline: an absolute limit on top of the socket's timeout.
    /// - Throws: as `readInto(_:deadline:)`: `IOError` `.invalidArgument` "I/O operation on closed
    ///   file."; `.unsupportedOperation` "File or stream is not readable."; `.timedOutObject`
    ///   "cannot read from timed out object" after an earlier timeout under `.latch`; `.timedOut`,
    ///   which sets the latch when the socket's timeout expired (not when only `deadline` did);
    ///   socket errors; `CancellationError`.
    public func waitUntilReadable(deadline: Deadline? = nil) async throws {
        try await waitUntilReadable(deadline: deadline, unlessNonBlocking: false)
    }

    /// `waitUntilReadable(deadline:)`, which with `unlessNonBlocking` returns at once (after the
    /// checks) in non-blocking mode, without asking the socket: a buffered reader then just reads.
    @inline(__always) func waitUntilReadable(deadline: Deadline?, unlessNonBlocking: Bool) async throws {
        try checkReadable()
        do {
            if let plainSocket {
                if unlessNonBlocking && plainSocket.timeout == .nonBlocking { return }
                try await plainSocket.waitUntilReadable(deadline: deadline)
            } else if let tlsSocket {
                if unlessNonBlocking && tlsSocket.timeout == .nonBlocking { return }
                try await tlsSocket.waitUntilReadable(deadline: deadline)
            } else {
                try await waitForOther(deadline: deadline, unlessNonBlocking: unlessNonBlocking)
            }
        } catch {
            throw latchIfTimedOut(error, deadline: deadline)
        }
    }

    /// CPython's `RawIOBase.read(n)`: one raw read of at most `n` bytes; `n < 0` reads to the end
    /// (`readAll`). Returns nil for "would block", empty at the end of the stream.
    /// - Throws: as `readInto`.
    public func read(_ count: Int = -1) async throws -> [UInt8]? {
        if count < 0 { return try await readAll() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 1)
        defer { buffer.deallocate() }
        guard let got = try await readInto(buffer) else { return nil }
        return Array(buffer[..<got])
    }

    /// Reads until the end of the stream. In non-blocking mode returns what was gathered when the
    /// socket would block, or nil if that was nothing (CPython's `readall`).
    /// - Throws: as `readInto`; bytes gathered before an error are lost, as in CPython — use the
    ///   buffered layer to keep them.
    public func readAll() async throws -> [UInt8]? {
        var result: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 8192, alignment: 1)
        defer { chunk.deallocate() }
        while true {
            guard let got = try await readInto(chunk) else { return result.isEmpty ? nil : result }
            if got == 0 { return result }
            result.append(contentsOf: chunk[..<got])
        }
    }

    /// Reads one line a byte at a time, up to and including `\n`, or at most `limit` bytes if
    /// `limit >= 0` (CPython's `IOBase.readline` on a raw object: no byte past the line is consumed,
    /// so another file object can continue where this one stopped).
    ///
    /// Non-blocking: returns nil if nothing could be read; if part of a line was read before the
    /// socket would block, returns that part (CPython raises "read() should have returned a bytes
    /// object, not 'NoneType'" and loses it).
    /// - Throws: as `readInto`; the bytes of a partial line read before an error (a timeout, say)
    ///   are lost, as in CPython — use the buffered layer to keep them.
    public func readLine(limit: Int = -1) async throws -> [UInt8]? {
        var line: [UInt8] = []
        let byte = UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 1)
        defer { byte.deallocate() }
        while limit < 0 || line.count < limit {
            guard let got = try await readInto(byte) else { return line.isEmpty ? nil : line }
            if got == 0 { break }
            line.append(byte[0])
            if byte[0] == UInt8(ascii: "\n") { break }
        }
        return line
    }

    // MARK: Writing

    /// Sends some prefix of `bytes` with one raw send (CPython's `write`).
    ///
    /// - Returns: the count sent (may be short), or nil if the socket is non-blocking and cannot
    ///   take any byte now.
    /// - Throws: `IOError` `.invalidArgument` "I/O operation on closed file.";
    ///   `.unsupportedOperation` "File or stream is not writable."; socket errors unchanged
    ///   (`.timedOut` does not latch writes); `CancellationError`.
    @inline(__always) public func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline? = nil) async throws -> Int? {
        if isClosed { throw IOError.invalidArgument("I/O operation on closed file.") }
        guard writing else { throw IOError(.unsupportedOperation, "File or stream is not writable.") }
        let outcome: IOOutcome
        if let plainSocket {
            outcome = try await plainSocket.send(bytes, deadline: deadline)
        } else if let tlsSocket {
            outcome = try await tlsSocket.send(bytes, deadline: deadline)
        } else {
            outcome = try await sendToOther(bytes, deadline: deadline)
        }
        switch outcome {
        case .completed(let count):
            bytesWritten &+= count
            return count
        case .wouldBlock: return nil
        }
    }

    /// `send` on a `RawSocket` of another type (see `receiveFromOther`).
    @inline(never)
    private func sendToOther(_ bytes: UnsafeRawBufferPointer, deadline: Deadline?) async throws -> IOOutcome {
        try await checkClosed().send(bytes, deadline: deadline)
    }

    /// `write` for a byte array.
    public func write(_ bytes: [UInt8]) async throws -> Int? {
        try await withStableCopy(of: bytes) { try await write($0) }
    }

    // MARK: Closing

    /// Closes the object and releases its reference on the socket (which closes the connection if
    /// the socket was closed and this was the last file object). Idempotent.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        let socket = self.socket
        self.socket = nil
        plainSocket = nil
        tlsSocket = nil
        socket?.releaseFileReference()
    }
}

extension RawSocket {
    /// Makes an unbuffered file object on this socket and takes a file reference for it (Python's
    /// `makefile(mode, buffering=0)`): the connection stays open until both the socket and the
    /// object are closed.
    ///
    /// - Parameter mode: any combination of "r", "w" and "b" ("" and "b" mean read).
    /// - Throws: `IOError` `.invalidArgument` "invalid mode 'x' (only r, w, b allowed)".
    public func makeSocketIO(mode: String = "rb") throws -> SocketIO {
        try makeSocketIO(FileMode(mode))
    }

    /// `makeSocketIO(mode:)` for a validated mode.
    func makeSocketIO(_ mode: FileMode) throws -> SocketIO {
        let file = SocketIO(self, fileMode: mode)
        retainFileReference()
        return file
    }
}
