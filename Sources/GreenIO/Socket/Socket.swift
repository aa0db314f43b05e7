import CGreenIO
import Glibc

/// A plain stream socket on the hub: TCP over IPv4 or IPv6, or a Unix-domain stream socket.
///
/// The descriptor is always `O_NONBLOCK` at the OS level; the caller's ``Socket/timeout`` mode
/// (a ``TimeoutMode``) decides whether an operation that cannot complete waits on the hub
/// (blocking, timeout) or reports "would block" (non-blocking). Operations that wait must run in a
/// green thread (``Hub/spawn(_:)``).
///
/// Make one with ``Socket/connect(host:port:timeout:sourceAddress:allErrors:)`` (Python's
/// `create_connection`), ``Socket/listen(host:port:backlog:reuseAddress:reusePort:)`` and
/// ``Socket/accept()``, ``Socket/pair()``, or ``Socket/init(family:)``; read and write it through
/// the file objects of ``RawSocket/makefile(_:buffering:encoding:errors:newline:)``.
///
/// A socket is used from the green threads of one hub. ``Socket/close()`` may be called from any
/// thread. The corresponding Python class is `socket.socket` (with eventlet's `GreenSocket`
/// behaviour).
public final class Socket: RawSocket, @unchecked Sendable {
    /// The descriptor, or -1 once really closed or detached (Python's `fileno()`).
    @exclusivity(unchecked) public private(set) var fileDescriptor: Int32
    /// The address family (`AF_INET`, `AF_INET6`, `AF_UNIX`).
    public let family: Int32
    /// The caller's timeout mode, read at every operation (Python's `gettimeout()`).
    @exclusivity(unchecked) public private(set) var timeout: TimeoutMode
    /// True once `close()` or `detach()` was called on this socket.
    @exclusivity(unchecked) public private(set) var isClosed = false

    @exclusivity(unchecked) var registration: FDRegistration?
    @exclusivity(unchecked) var fileReferences = 0
    /// The last `receive` returned fewer bytes than asked: the kernel's data queue was empty then,
    /// so every byte since has come with an epoll edge that the hub either recorded or will deliver
    /// to a wait. `waitUntilReadable` can then wait without peeking first (`waitForArrival`, which
    /// knows the exception: an end of stream or error the hub has already seen). Any read wait (a
    /// TLS layer's, say, whose reads bypass `receive`) clears it.
    @exclusivity(unchecked) var drainedByLastReceive = false
    /// Bytes already received from the descriptor by a TLS layer before it handed the connection
    /// back (`TLSSocket.unwrap`), or put back by `unread`: the first input, served before the
    /// descriptor is read again.
    @exclusivity(unchecked) var carriedInput: [UInt8]?

    /// Creates a stream socket of the given family (`socket(family, SOCK_STREAM)`), in the
    /// process-wide default timeout mode.
    ///
    /// - Throws: `IOError` `.system` if `socket` fails (`EMFILE`, `EAFNOSUPPORT`, …).
    public convenience init(family: Int32 = AF_INET) throws {
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let fd = try SystemCall.socket(family: family, type: type).orThrow()
        self.init(descriptor: fd, family: family, timeout: TimeoutMode.default)
    }

    /// Adopts an existing connected or listening stream socket descriptor (Python's
    /// `socket(fileno=fd)`). The descriptor is switched to `O_NONBLOCK`; the socket starts in the
    /// default timeout mode and owns the descriptor from now on.
    ///
    /// - Throws: `IOError` `.system` (`EBADF`, `ENOTSOCK`) if `fd` is not a socket.
    public convenience init(adopting fd: Int32) throws {
        var family: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        try SystemCall.getOption(fd, level: SOL_SOCKET, name: SO_DOMAIN, &family, &length).orThrow()
        let flags = try SystemCall.statusFlags(fd).orThrow()
        try SystemCall.setStatusFlags(fd, flags | O_NONBLOCK).orThrow()
        self.init(descriptor: fd, family: family, timeout: TimeoutMode.default)
    }

    init(descriptor: Int32, family: Int32, timeout: TimeoutMode, carrying carried: [UInt8] = []) {
        self.fileDescriptor = descriptor
        self.family = family
        self.timeout = timeout
        if !carried.isEmpty { carriedInput = carried }
        // A new descriptor number may still be known to the hub from a descriptor closed behind its
        // back; registering now retires the old registration (eventlet's notify_opened).
        if let hub = Hub.current { registration = try? hub.register(descriptor) }
    }

    deinit {
        if fileDescriptor >= 0 { closeDescriptor() }
    }

    /// A connected pair of Unix-domain stream sockets (Python's `socket.socketpair()`), both in the
    /// default timeout mode.
    /// - Throws: `IOError` `.system` if `socketpair` fails.
    public static func pair() throws -> (Socket, Socket) {
        var fds: [Int32] = [-1, -1]
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        try SystemCall.socketPair(family: AF_UNIX, type: type, &fds).orThrow()
        let mode = TimeoutMode.default
        return (Socket(descriptor: fds[0], family: AF_UNIX, timeout: mode),
                Socket(descriptor: fds[1], family: AF_UNIX, timeout: mode))
    }

    // MARK: Timeout mode

    /// Sets the timeout mode (Python's `settimeout`); it applies to the next operation, also
    /// through file objects already made from this socket.
    /// - Throws: `IOError` `.invalidArgument` "Timeout value out of range" for a negative duration;
    ///   `.system` `EBADF` on a closed socket.
    public func setTimeout(_ mode: TimeoutMode) throws {
        let valid = try mode.validated()
        guard fileDescriptor >= 0 else { throw IOError.system(.badFileDescriptor) }
        timeout = valid
    }

    /// Python's `settimeout(seconds)`: nil blocks, 0 is non-blocking, positive is a timeout.
    /// - Throws: as `TimeoutMode.init(seconds:)`, and `EBADF` on a closed socket.
    public func setTimeout(seconds: Double?) throws {
        try setTimeout(TimeoutMode(seconds: seconds))
    }

    /// Python's `setblocking(flag)`: true is `.blocking`, false is `.nonBlocking` (either way a
    /// previous timeout is discarded).
    public func setBlocking(_ flag: Bool) throws {
        try setTimeout(flag ? .blocking : .nonBlocking)
    }

    /// Python's `getblocking()`: false only in non-blocking mode.
    public var isBlocking: Bool { timeout != .nonBlocking }

    /// Whether the descriptor has `O_NONBLOCK` set at the OS level (always true for an open
    /// socket: GreenIO never lets a socket block its hub thread).
    public var isDescriptorNonBlocking: Bool {
        guard case .success(let flags) = SystemCall.statusFlags(fileDescriptor) else { return false }
        return flags & O_NONBLOCK != 0
    }

    // MARK: Waiting

    /// Parks the calling green thread until the socket is ready in `interest`, or throws. A TLS
    /// socket on top uses the `.secondary` slot when a read must wait to write or a write to read.
    func wait(for interest: Interest, until deadline: Deadline, slot: WaitSlot = .primary) async throws {
        let hub = try Hub.requireCurrent()
        if interest == .read { drainedByLastReceive = false }
        let registration: FDRegistration
        if let existing = self.registration {
            guard existing.hub === hub else {
                throw IOError(.notOnHub, "this socket is registered with another hub")
            }
            registration = existing
        } else {
            guard fileDescriptor >= 0 else { throw IOError.system(.badFileDescriptor) }
            registration = try hub.register(fileDescriptor)
            self.registration = registration
        }
        try await hub.wait(for: interest, on: registration, deadline: deadline, slot: slot)
    }

    /// Has the hub call `handler` on its thread whenever the descriptor is seen writable, until it
    /// returns false (or the socket closes); for output a layer above keeps for the kernel. Without
    /// a hub, or once closed, nothing happens.
    func whenWritable(_ handler: @escaping () -> Bool) {
        guard let hub = Hub.current, fileDescriptor >= 0 else { return }
        if registration == nil { registration = try? hub.register(fileDescriptor) }
        guard let registration, registration.hub === hub else { return }
        registration.writableHandler = handler
    }

    @inline(__always) func openDescriptor() throws -> Int32 {
        let fd = fileDescriptor
        guard fd >= 0 else { throw IOError.system(.badFileDescriptor) }
        return fd
    }

    // MARK: RawSocket

    /// Receives at most `buffer.count` bytes with `recv(2)` (see `RawSocket.receive`). An empty
    /// buffer still waits until the socket is readable in blocking and timeout modes.
    public func receive(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline?) async throws -> IOOutcome {
        if carriedInput != nil, buffer.count > 0 { return .completed(try receiveCarried(into: buffer)) }
        let mode = timeout
        var waitDeadline: Deadline?
        while true {
            if buffer.count == 0 {
                // A zero-length read still waits for readability, so timeouts fire (EVT-08).
                if try hasInputWaiting() { return .completed(0) }
            } else {
                switch SystemCall.receive(try openDescriptor(), buffer.baseAddress, buffer.count) {
                case .success(let count):
                    drainedByLastReceive = count > 0 && count < buffer.count
                    return .completed(count)
                case .failure(let errno):
                    guard errno == .wouldBlock else { throw IOError.system(errno) }
                }
            }
            if mode == .nonBlocking { return .wouldBlock(.read) }
            let limit = waitDeadline ?? mode.deadline(capping: deadline)
            waitDeadline = limit
            try await wait(for: .read, until: limit)
        }
    }

    /// Puts `bytes` back in front of the socket's input: the next `receive` returns them before
    /// anything the descriptor holds, and a `TLSSocket` that wraps the socket reads them first —
    /// so a reader that took more than its own part of the stream (a PROXY protocol header, say)
    /// hands the rest on without losing it. Bytes put back earlier and not yet received come
    /// after `bytes`.
    /// - Throws: `IOError` `.system` `EBADF` once closed.
    public func unread(_ bytes: some Collection<UInt8>) throws {
        _ = try openDescriptor()
        guard !bytes.isEmpty else { return }
        carriedInput = Array(bytes) + (carriedInput ?? [])
        drainedByLastReceive = false
    }

    /// Waits until the socket is readable (see `RawSocket.waitUntilReadable`): one wait for
    /// readability, after a one-byte `MSG_PEEK` unless the last `receive` already showed the
    /// kernel's queue empty (`drainedByLastReceive`, then `waitForArrival`). It returns
    /// after that wait without peeking again: the wake-up means bytes, the end of the stream or an
    /// error arrived, and the `receive` that follows takes them. So a connection that is idle
    /// between messages costs one `recv` and one `send` per message, as a plain epoll loop does;
    /// on a rare early wake-up the `receive` that follows simply waits.
    /// - Throws: `IOError` `.timedOut`, `.system` (the peek's error), `.closed`; `CancellationError`.
    public func waitUntilReadable(deadline: Deadline?) async throws {
        let mode = timeout
        if mode != .nonBlocking && drainedByLastReceive,
           try await waitForArrival(until: mode.deadline(capping: deadline)) {
            return
        }
        if try hasInputWaiting() || mode == .nonBlocking { return }
        try await wait(for: .read, until: mode.deadline(capping: deadline))
    }

    /// Waits for the next arrival on a descriptor whose data queue the caller saw empty at its last
    /// `recv` — every byte since comes with an epoll edge, which the hub either recorded or delivers
    /// to this wait — without probing first. Returns false at once, without waiting, when the hub
    /// has seen the peer's end of stream, a hang-up or an error on the descriptor
    /// (`FDRegistration.sawEndOrError`): a FIN that came with the data stays readable with no edge to
    /// come, so the caller must probe instead. The rule for `Socket` and for `TLSSocket`'s BIO.
    /// - Throws: as `wait(for:until:)`.
    func waitForArrival(until deadline: Deadline) async throws -> Bool {
        if registration?.sawEndOrError == true { return false }
        try await wait(for: .read, until: deadline)
        return true
    }

    /// Moves carried bytes into `buffer` (not empty) and returns their count.
    /// - Throws: `IOError` `.system` `EBADF` once closed.
    private func receiveCarried(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        _ = try openDescriptor()
        guard let carried = carriedInput, let base = buffer.baseAddress else { return 0 }
        let count = min(buffer.count, carried.count)
        carried.withUnsafeBytes { bytes in
            if let source = bytes.baseAddress { base.copyMemory(from: source, byteCount: count) }
        }
        carriedInput = count == carried.count ? nil : Array(carried[count...])
        drainedByLastReceive = false
        return count
    }

    /// Takes the carried bytes (for a TLS layer taking the descriptor over).
    func takeCarriedInput() -> [UInt8] {
        defer { carriedInput = nil }
        return carriedInput ?? []
    }

    /// Whether a receive would return at once — carried bytes, or bytes, the end of the stream or
    /// an error waiting in the kernel — by a one-byte `MSG_PEEK` that never blocks; false on
    /// would-block.
    /// - Throws: `IOError` `.system` for the peek's error (`EBADF` once closed).
    private func hasInputWaiting() throws -> Bool {
        if carriedInput != nil {
            _ = try openDescriptor()  // EBADF once closed, as the peek would say
            return true
        }
        var probe: UInt8 = 0
        switch SystemCall.receive(try openDescriptor(), &probe, 1, flags: Int32(MSG_PEEK | MSG_DONTWAIT)) {
        case .success: return true
        case .failure(let errno):
            guard errno == .wouldBlock else { throw IOError.system(errno) }
            return false
        }
    }

    /// Sends some prefix of `bytes` with `send(2)` and `MSG_NOSIGNAL` (see `RawSocket.send`): a
    /// vanished peer is an `EPIPE` error, never a SIGPIPE.
    public func send(_ bytes: UnsafeRawBufferPointer, deadline: Deadline?) async throws -> IOOutcome {
        let mode = timeout
        var waitDeadline: Deadline?
        while true {
            switch SystemCall.send(try openDescriptor(), bytes.baseAddress, bytes.count) {
            case .success(let count): return .completed(count)
            case .failure(let errno): guard errno == .wouldBlock else { throw IOError.system(errno) }
            }
            if mode == .nonBlocking { return .wouldBlock(.write) }
            let limit = waitDeadline ?? mode.deadline(capping: deadline)
            waitDeadline = limit
            try await wait(for: .write, until: limit)
        }
    }

    /// Shuts down one or both directions (`shutdown(2)`). Waiters are not woken by this alone;
    /// they see the peer's reaction (end of stream, `EPIPE`) as usual.
    public func shutdown(_ direction: ShutdownDirection) throws {
        let how: Int32
        switch direction {
        case .read: how = Int32(SHUT_RD)
        case .write: how = Int32(SHUT_WR)
        case .both: how = Int32(SHUT_RDWR)
        }
        try SystemCall.shutdown(try openDescriptor(), how).orThrow()
    }

    /// Closes the socket (Python's `close()`). Idempotent. While file objects made from the socket
    /// are open, the connection stays open (and socket calls keep working) until the last of them
    /// is closed; then green threads waiting on the descriptor get a "closed" error, the descriptor
    /// leaves the hub, and only then is it closed.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        if fileReferences <= 0 { closeDescriptor() }
    }

    /// Gives up ownership of the descriptor and returns it (Python's `detach()`); the socket is
    /// closed, the descriptor is not. Returns -1 if already really closed. Bytes a TLS layer had
    /// already received behind the peer's close_notify (see `TLSSocket.unwrap`) and that were not
    /// read yet go with this socket, not with the descriptor: read them before detaching.
    public func detach() -> Int32 {
        isClosed = true
        let fd = fileDescriptor
        guard fd >= 0 else { return -1 }
        fileDescriptor = -1
        if let registration {
            self.registration = nil
            registration.hub.deregister(registration, closeDescriptor: false)
        }
        return fd
    }

    /// Records one more file object made from this socket. The file objects call it (`makefile`,
    /// `makeSocketIO(mode:)`); application code does not.
    public func retainFileReference() {
        fileReferences += 1
    }

    /// Releases a file object's reference; closes the descriptor if `close()` was called and this
    /// was the last reference. The file objects call it when they close; application code does not.
    public func releaseFileReference() {
        if fileReferences > 0 { fileReferences -= 1 }
        if isClosed && fileReferences == 0 { closeDescriptor() }
    }

    /// Wakes waiters, leaves the hub and closes the descriptor (Python's `_real_close`).
    func closeDescriptor() {
        let fd = fileDescriptor
        guard fd >= 0 else { return }
        fileDescriptor = -1
        if let registration {
            self.registration = nil
            registration.hub.deregister(registration, closeDescriptor: true)
        } else {
            SystemCall.close(fd)
        }
    }
}
