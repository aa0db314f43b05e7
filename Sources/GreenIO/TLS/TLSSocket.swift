// Theory of operation
// ===================
//
// OpenSSL runs directly on the socket's non-blocking descriptor, through a BIO of ours
// (`SocketBIO`) that sends with `MSG_NOSIGNAL` (a vanished peer is an EPIPE error, never SIGPIPE),
// receives whole records ahead of OpenSSL into a buffer of its own (so `unwrap` can hand back the
// cleartext behind a close_notify), and keeps the ciphertext the kernel does not take. Every TLS
// operation — read, write, handshake, shutdown — is one loop: call the `SSL_*` function first, and
// only if OpenSSL says WANT_READ wait for readability on the hub, then call it again.
// Three facts shape the loop:
//
// 1. TLS I/O can need the other direction. A read may have to write (a TLS 1.3 key-update answer,
//    or the handshake's next flight) and a write may have to read (a TLS 1.2 handshake still in
//    progress). So the wait direction comes from OpenSSL, never from the operation's name. When a
//    reader green thread and a writer green thread share one socket, a write waiting to read takes
//    the hub's `.secondary` read slot, so both make progress (EVT-50).
// 2. Decrypted bytes can sit inside OpenSSL while the descriptor is not readable (one record may
//    hold more than the caller asked for), and received records can sit in the BIO's read-ahead
//    buffer (`SocketBIO`). So a read always calls `SSL_read` before waiting, never the other way
//    round (eventlet #315); only `waitUntilReadable` waits first, and only when OpenSSL and the BIO
//    hold nothing and the last `recv` showed the kernel's queue empty.
// 3. OpenSSL never sees "would block" on a write, so it never holds a half-sent record (which it
//    could only finish if the caller retried with the same bytes). The BIO keeps what the kernel
//    refuses and the hub sends it when the descriptor turns writable, whichever operation wrote it;
//    a write encrypts at most one record (16 KiB) per `SSL_write` and none while ciphertext is
//    kept, so at most about one record is. Only writes wait for it: a blocking write returns once
//    the kernel has it all; a non-blocking one reports its record written and, while ciphertext is
//    kept, "would block" without taking any bytes — so any retry is a correct one.
//
// In non-blocking mode WANT_READ (and a write held back by kept ciphertext) is returned as
// `.wouldBlock(direction)` — the raw protocol's one would-block outcome — so it can never escape as
// an error (the seed's crash).
//
// The end of the stream: close_notify is a clean EOF; a TCP close without it is a "ragged" EOF,
// reported as EOF when `suppressRaggedEOFs` (the default) and otherwise as `.tlsEOF` "EOF occurred in
// violation of protocol"; a reset is a connection-reset error. Bytes that arrived before any of these
// are delivered first, and the outcome is sticky. A parked reader is woken by the descriptor's
// readiness (epoll reports hang-ups and errors as readable), so none of these can leave it hanging.
//
// Each raw operation has one deadline (the socket's timeout from the start of the call, capped by the
// caller's `deadline`), however many waits it takes. After a write timed out the caller cannot know
// how much of it went out, so the write side is then broken for good and says so (Go's rule).
//
// OpenSSL keeps its error queue per thread and every connection of a hub shares that thread, so
// the queue is cleared before each `SSL_*` call and read right after it.

import COpenSSL
import Glibc

/// A TLS connection over a plain socket, driven through the hub: GreenIO's `ssl.SSLSocket`.
///
/// It conforms to ``RawSocket``, so ``RawSocket/makefile(_:buffering:encoding:errors:newline:)``,
/// ``SocketIO`` and the buffered and text layers work on it unchanged. Make one with
/// ``TLSSocket/wrap(_:context:serverHostname:session:handshake:suppressRaggedEOFs:)`` (client or
/// server, by the context's role), ``TLSSocket/connect(host:port:context:serverHostname:session:timeout:)``,
/// or ``Socket/startTLS(context:serverHostname:reader:)``, with a ``TLSContext``.
///
/// A TLS socket is used from the green threads of one hub: one reader and one writer may work at the
/// same time. ``TLSSocket/close()`` may be called from any thread.
public final class TLSSocket: RawSocket, @unchecked Sendable {
    /// The context the socket was made with.
    public let context: TLSContext
    /// The name the client verifies and sends as SNI; nil for servers.
    public let serverHostname: String?
    /// When the peer closes TCP without a TLS close_notify: true (the default, as Python) reads
    /// that as the end of the stream; false throws `.tlsEOF` "EOF occurred in violation of protocol".
    public var suppressRaggedEOFs: Bool
    /// The timeout mode, read at each operation (kept from the wrapped socket).
    @exclusivity(unchecked) public private(set) var timeout: TimeoutMode
    /// True once `close()` (or `unwrap`) was called.
    @exclusivity(unchecked) public private(set) var isClosed = false

    let socket: Socket
    /// The BIO's state: the read-ahead buffer and whether the kernel's queue was seen empty.
    let transport: SocketBIO
    @exclusivity(unchecked) var ssl: OpaquePointer?
    @exclusivity(unchecked) var fileReferences = 0
    /// When the current read wait began (the hub's clock); nil while working (`IdleReleasable`).
    @exclusivity(unchecked) var idleSince: UInt64?
    /// True while the hub's idle-release queue holds this socket.
    @exclusivity(unchecked) var idleReleaseQueued = false
    /// How many times the buffers were given back (`releaseIdleMemory`).
    @exclusivity(unchecked) var idleReleaseCount = 0
    /// Set by `handshake()`, or by the first read or write that moved data (a handshake driven by
    /// reads and writes, as on a server wrapped with `handshake: false`).
    @exclusivity(unchecked) var handshakeDone = false
    /// How reads end once the stream has ended: nil while open, else sticky.
    @exclusivity(unchecked) var readEnd: ReadEnd?
    /// Set after a write timed out: the write side is broken for good.
    @exclusivity(unchecked) var writeFailure: IOError?
    /// `shutdown(.write)` was called while ciphertext waited for the kernel: TCP's sending side is
    /// shut once it is sent.
    @exclusivity(unchecked) var shutsDownAfterFlush = false

    enum ReadEnd {
        case endOfStream
        case failed(IOError)
    }

    /// The most one `SSL_write` is given: a full record, so the ciphertext the socket may have to
    /// keep for the kernel is one record's.
    static let recordSize = 16_384

    init(socket: Socket, ssl: OpaquePointer, context: TLSContext, serverHostname: String?,
         timeout: TimeoutMode, suppressRaggedEOFs: Bool, carried: [UInt8] = []) {
        self.socket = socket
        self.transport = SocketBIO(descriptor: socket.fileDescriptor, carried: carried)
        self.ssl = ssl
        self.context = context
        self.serverHostname = serverHostname
        self.timeout = timeout
        self.suppressRaggedEOFs = suppressRaggedEOFs
    }

    deinit {
        if let ssl { SSL_free(ssl) }
    }

    // MARK: Making TLS sockets

    /// Wraps a plain socket (Python's `SSLContext.wrap_socket`). The plain socket is detached: from
    /// now on only the TLS socket uses its descriptor, and file objects made from the plain socket
    /// fail with `EBADF`. The TLS socket keeps the plain socket's timeout mode.
    ///
    /// - Parameters:
    ///   - plain: a plain socket, connected or not yet connected (then `connect(to:deadline:)`
    ///     connects it and runs the handshake).
    ///   - context: a client or server context; its role decides the socket's side.
    ///   - serverHostname: for clients, the name to verify and send as SNI (required when the
    ///     context checks host names). Ignored by servers.
    ///   - session: for clients, a session of an earlier connection to the same server
    ///     (`TLSSocket.session`) to offer for resumption, in place of the one the context remembers
    ///     (`TLSContext.remembersSessions`). If the server declines it the handshake is a full one,
    ///     without error; `sessionReused` tells which. Ignored by servers.
    ///   - handshake: perform the handshake now (blocking and timeout modes; for a socket that is not
    ///     connected yet it happens in `connect`). Servers should call this in the connection's own
    ///     green thread, never in the accept loop.
    ///   - suppressRaggedEOFs: read a TCP close without a TLS close_notify as the end of the stream
    ///     (true, the default, as Python) or throw `.tlsEOF` (false); see `suppressRaggedEOFs`.
    /// - Throws: `IOError` `.invalidArgument` "check_hostname requires server_hostname",
    ///   "do_handshake_on_connect should not be specified for non-blocking sockets"; handshake
    ///   errors (`.timedOut` "The handshake operation timed out", `.certificateVerificationFailed`,
    ///   `.tls`, `.tlsEOF`, socket errors) — after a failed handshake the socket is closed.
    public static func wrap(_ plain: Socket, context: TLSContext, serverHostname: String? = nil,
                            session: TLSClientSession? = nil, handshake: Bool = true,
                            suppressRaggedEOFs: Bool = true) async throws -> TLSSocket {
        let mode = plain.timeout
        if handshake && mode == .nonBlocking {
            plain.close()
            throw IOError.invalidArgument("do_handshake_on_connect should not be specified for non-blocking sockets")
        }
        let hostname = context.role == .client ? serverHostname : nil
        if context.checksHostname && hostname == nil {
            plain.close()
            throw IOError.invalidArgument("check_hostname requires server_hostname")
        }
        let connected = (try? plain.peerAddress()) != nil
        let family = plain.family
        let carried = plain.takeCarriedInput()
        let fd = plain.detach()
        guard fd >= 0 else { throw IOError.system(.badFileDescriptor) }
        let inner = Socket(descriptor: fd, family: family, timeout: .blocking)
        OpenSSLErrors.clear()
        guard let ssl = SSL_new(context.context) else {
            inner.close()
            throw OpenSSLErrors.error("SSL_new failed")
        }
        let tls = TLSSocket(socket: inner, ssl: ssl, context: context, serverHostname: hostname,
                            timeout: mode, suppressRaggedEOFs: suppressRaggedEOFs, carried: carried)
        do {
            try tls.configure(ssl, offering: session)
            if handshake && connected { try await tls.handshake() }
        } catch {
            tls.close()
            throw error
        }
        return tls
    }

    private func configure(_ ssl: OpaquePointer, offering session: TLSClientSession?) throws {
        guard let bio = transport.makeBIO() else { throw OpenSSLErrors.error("cannot make the socket BIO") }
        SSL_set_bio(ssl, bio, bio)  // the SSL object owns the BIO from here on
        guard context.role == .client else {
            SSL_set_accept_state(ssl)
            return
        }
        SSL_set_connect_state(ssl)
        if let session { session.offer(on: ssl) }
        guard let name = serverHostname else { return }
        if session == nil { context.resume(ssl, for: name) }
        let numeric = isIPAddress(name)
        if !numeric { _ = greenio_SSL_set_tlsext_host_name(ssl, name) }
        if context.checksHostname {
            let ok = numeric ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) : SSL_set1_host(ssl, name)
            guard ok == 1 else { throw OpenSSLErrors.error("cannot verify against the name \(name)") }
        }
    }

    /// Connects to `host:port` (Python's `create_connection` rules) and performs the client handshake.
    /// - Parameters:
    ///   - host: the server's name or numeric address.
    ///   - port: the server's TCP port.
    ///   - context: a client context.
    ///   - serverHostname: the name to verify; defaults to `host`.
    ///   - session: a session to offer for resumption, as in `wrap`.
    ///   - timeout: as `Socket.connect(host:port:timeout:)`; it bounds the connect and the handshake
    ///     and stays the TLS socket's mode.
    /// - Throws: connection errors, then handshake errors as `wrap`.
    public static func connect(host: String, port: Int, context: TLSContext, serverHostname: String? = nil,
                               session: TLSClientSession? = nil, timeout: TimeoutMode? = nil) async throws -> TLSSocket {
        let plain = try await Socket.connect(host: host, port: port, timeout: timeout)
        return try await wrap(plain, context: context, serverHostname: serverHostname ?? host, session: session)
    }

    /// Connects a TLS socket made from an unconnected plain socket ("wrap first, connect later"),
    /// then performs the handshake (blocking and timeout modes).
    /// - Throws: as `Socket.connect(to:deadline:)`, then handshake errors as `wrap`.
    public func connect(to address: SocketAddress, deadline: Deadline? = nil) async throws {
        let saved = socket.timeout
        try socket.setTimeout(timeout)
        defer { try? socket.setTimeout(saved) }
        try await socket.connect(to: address, deadline: deadline)
        if timeout != .nonBlocking { try await handshake(deadline: deadline) }
    }

    // MARK: Timeout mode

    /// Sets the timeout mode (Python's `settimeout`), as `Socket.setTimeout`.
    /// - Throws: `IOError` `.invalidArgument` for a negative duration.
    public func setTimeout(_ mode: TimeoutMode) throws {
        timeout = try mode.validated()
    }

    /// Python's `settimeout(seconds)`.
    /// - Throws: as `TimeoutMode.init(seconds:)`.
    public func setTimeout(seconds: Double?) throws {
        try setTimeout(TimeoutMode(seconds: seconds))
    }

    // MARK: RawSocket

    /// The descriptor, -1 once closed.
    public var fileDescriptor: Int32 { socket.fileDescriptor }

    /// Reads decrypted bytes (`SSL_read`; at most one record's worth).
    ///
    /// - Returns: `.completed(n)`; 0 at the end of the stream (close_notify, or a ragged EOF when
    ///   suppressed) and for an empty buffer; `.wouldBlock(direction)` in non-blocking mode.
    /// - Throws: `IOError` `.timedOut` "The read operation timed out"; `.tlsEOF`; `.system`
    ///   `ECONNRESET`; `.tls`; `.invalidArgument` "Read on closed or unwrapped SSL socket.";
    ///   `.closed`; `CancellationError`.
    public func receive(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline?) async throws -> IOOutcome {
        guard let ssl, !isClosed || fileReferences > 0 else {
            throw IOError.invalidArgument("Read on closed or unwrapped SSL socket.")
        }
        if buffer.count == 0 { return .completed(0) }
        if let readEnd {
            switch readEnd {
            case .endOfStream: return .completed(0)
            case .failed(let error): throw error
            }
        }
        let count = Int32(clamping: buffer.count)
        let base = buffer.baseAddress
        do {
            return try await drive(.read, deadline: deadline) { SSL_read(ssl, base, count) }
        } catch let end as EndOfStream {
            switch end {
            case .closeNotify:
                readEnd = .endOfStream
                return .completed(0)
            case .ragged:
                if suppressRaggedEOFs {
                    readEnd = .endOfStream
                    return .completed(0)
                }
                let error = IOError(.tlsEOF, "EOF occurred in violation of protocol")
                readEnd = .failed(error)
                throw error
            }
        } catch let error as IOError where error.errno == .connectionReset {
            readEnd = .endOfStream
            throw error
        }
    }

    /// Waits until a read would return something: decrypted bytes, the end of the stream or an
    /// error (see `RawSocket.waitUntilReadable`).
    ///
    /// When the last `recv` left the kernel's queue empty and neither OpenSSL nor the read-ahead
    /// buffer holds a byte, it waits for readability at once and returns after the wake-up without
    /// probing (it may return early: the `receive` that follows waits as usual) — unless the hub has
    /// seen the peer's end of stream or an error, which would raise no edge to wake it. Otherwise it
    /// peeks one byte with `SSL_peek` — which, like every TLS operation here, tries first and waits
    /// only in the direction OpenSSL asks for — so bytes OpenSSL or the kernel already hold are
    /// never waited for, and nothing is consumed. Either way a wait that lasts gives the buffers back
    /// (`releaseIdleMemory`).
    /// - Throws: `IOError` `.timedOut` "The read operation timed out", `.closed`, socket errors;
    ///   `CancellationError`.
    public func waitUntilReadable(deadline: Deadline?) async throws {
        guard let ssl, readEnd == nil, !isClosed || fileReferences > 0 else { return }
        let mode = timeout
        if mode != .nonBlocking && transport.drained && transport.bufferedCount == 0 && SSL_has_pending(ssl) == 0 {
            transport.drained = false
            beginIdle()
            do {
                defer { idleSince = nil }
                if try await socket.waitForArrival(until: mode.deadline(capping: deadline)) { return }
            } catch let error as IOError where error.kind == .timedOut {
                throw IOError(.timedOut, Operation.read.timeoutMessage)
            }
        }
        let probe = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1)
        defer { probe.deallocate() }
        do {
            _ = try await drive(.read, deadline: deadline) { SSL_peek(ssl, probe, 1) }
        } catch is EndOfStream {
            return  // the next receive reports it
        }
    }

    /// Encrypts and sends `bytes` (`SSL_write`, one record of at most 16 KiB at a time).
    ///
    /// Blocking and timeout modes: sends all of them and returns once the kernel has taken every
    /// record. Non-blocking mode: encrypts one record's worth (at most 16 KiB) and reports it
    /// written; what of that record the kernel could not take at once stays with the socket, and the
    /// hub sends it as soon as the descriptor is writable. Until it is out, writes report
    /// `.wouldBlock(.write)` and take none of their bytes: a retry may offer any bytes. Empty
    /// writes do nothing.
    /// - Returns: `.completed(n)` or `.wouldBlock(direction)` in non-blocking mode.
    /// - Throws: `IOError` `.timedOut` "The write operation timed out" — after which every write
    ///   fails with it (the caller cannot know how much went out); `.invalidArgument` "Write on
    ///   closed or unwrapped SSL socket."; `.system` (`EPIPE`, `ECONNRESET`; from then on every
    ///   write fails with it); `.tls`; `.closed`; `CancellationError`.
    public func send(_ bytes: UnsafeRawBufferPointer, deadline: Deadline?) async throws -> IOOutcome {
        guard let ssl, !isClosed || fileReferences > 0 else {
            throw IOError.invalidArgument("Write on closed or unwrapped SSL socket.")
        }
        if let writeFailure { throw writeFailure }
        guard bytes.count > 0, let base = bytes.baseAddress else { return .completed(0) }
        var waitDeadline: Deadline?
        var written = 0
        do {
            repeat {
                // Nothing new is encrypted while ciphertext waits for the kernel (back-pressure).
                if transport.unsentCount > 0, try await !flushed(.write, deadline: deadline, waitDeadline: &waitDeadline) {
                    return .wouldBlock(.write)
                }
                let length = Int32(min(bytes.count - written, TLSSocket.recordSize))
                let outcome = try await drive(.write, deadline: deadline, waitDeadline: &waitDeadline) {
                    SSL_write(ssl, base + written, length)
                }
                guard case .completed(let n) = outcome else { return outcome }  // non-blocking only
                written += n
            } while written < bytes.count && timeout != .nonBlocking
            if transport.unsentCount > 0 && timeout != .nonBlocking {
                _ = try await flushed(.write, deadline: deadline, waitDeadline: &waitDeadline)
            }
            return .completed(written)
        } catch let error as IOError where error.kind == .timedOut {
            writeFailure = error
            throw error
        } catch is EndOfStream {
            throw IOError(.tlsEOF, "EOF occurred in violation of protocol")
        }
    }

    /// Shuts down one or both directions. `.write` sends a TLS close_notify, then ends TCP's sending
    /// side; when the close_notify (or ciphertext still kept before it) cannot go out at once (the
    /// send buffer is full, or a write timed out) TCP's side is ended all the same, so the peer sees
    /// a ragged EOF instead of waiting for ever. `.read` shuts TCP's receiving side.
    /// - Throws: `IOError` `.system` from `shutdown(2)`.
    public func shutdown(_ direction: ShutdownDirection) throws {
        if direction != .read { sendCloseNotify() }
        guard direction != .read, transport.unsentCount > 0 else {
            try socket.shutdown(direction)
            return
        }
        // Ciphertext still waits for the kernel: TCP's sending side ends once the hub has sent it.
        if direction == .both { try socket.shutdown(.read) }
        shutsDownAfterFlush = true
        flushWhenWritable()
    }

    /// Sends a close_notify after a completed handshake, as far as the kernel takes it at once.
    private func sendCloseNotify() {
        guard let ssl, handshakeDone, writeFailure == nil else { return }
        OpenSSLErrors.clear()
        _ = SSL_shutdown(ssl)
        OpenSSLErrors.clear()
        _ = transport.flush()
    }

    /// Closes the socket (Python's `close()`), with the file-reference rule of `RawSocket`. When
    /// called on the socket's hub thread after a completed handshake it first sends a close_notify,
    /// so the peer sees a clean end of stream — as far as the kernel takes it at once, with any
    /// ciphertext still kept before it (`unsentByteCount`): the descriptor closes now, and what the
    /// kernel did not take is dropped (the peer then sees a ragged end). In non-blocking mode, where
    /// a write can report its record written while part of it is still kept, wait until
    /// `unsentByteCount` is 0, or `shutdown(.write)` first, when every byte must arrive. Idempotent.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        if fileReferences <= 0 { closeConnection() }
    }

    /// Records one more file object made from this socket. The file objects call it (`makefile`,
    /// `makeSocketIO(mode:)`); application code does not.
    public func retainFileReference() {
        fileReferences += 1
    }

    /// Releases a file object's reference; closes the connection if `close()` was called and this
    /// was the last reference. The file objects call it when they close; application code does not.
    public func releaseFileReference() {
        if fileReferences > 0 { fileReferences -= 1 }
        if isClosed && fileReferences == 0 { closeConnection() }
    }

    private func closeConnection() {
        if let ssl, handshakeDone, let name = serverHostname { context.remember(ssl, for: name) }
        if socket.fileDescriptor >= 0, let hub = Hub.current, socket.registration.map({ $0.hub === hub }) ?? true {
            sendCloseNotify()
        }
        socket.close()
    }

    // MARK: Handshake and unwrap

    /// Performs the handshake if it has not happened yet (Python's `do_handshake`).
    ///
    /// - Returns: nil once the handshake is complete; in non-blocking mode the direction to wait for
    ///   when it cannot finish now (call again when ready).
    /// - Throws: `IOError` `.timedOut` "The handshake operation timed out",
    ///   `.certificateVerificationFailed`, `.tls`, `.tlsEOF`, `.system` (`ENOTCONN` on a socket that
    ///   is not connected); `CancellationError`.
    @discardableResult
    public func handshake(deadline: Deadline? = nil) async throws -> Interest? {
        guard let ssl else { throw IOError.invalidArgument("Handshake on closed or unwrapped SSL socket.") }
        if handshakeDone { return nil }
        _ = try socket.peerAddress()  // ENOTCONN for a socket that is not connected
        do {
            if case .wouldBlock(let direction) = try await drive(.handshake, deadline: deadline, { SSL_do_handshake(ssl) }) {
                return direction
            }
        } catch is EndOfStream {
            throw IOError(.tlsEOF, "EOF occurred in violation of protocol")
        }
        handshakeDone = true
        return nil
    }

    /// Ends TLS and returns the plain socket on the same connection (Python's `unwrap()`): sends a
    /// close_notify, waits for the peer's, and hands the descriptor to a new plain `Socket` in this
    /// socket's timeout mode, with any cleartext already received behind the peer's close_notify as
    /// its first input. This socket is closed afterwards.
    ///
    /// - Returns: the plain socket, or nil in non-blocking mode when the peer's close_notify has not
    ///   arrived yet (call again when readable).
    /// - Throws: `IOError` `.invalidArgument` "No SSL wrapper around the socket" once unwrapped;
    ///   `.tlsEOF` when the peer closed TCP without a close_notify; `.timedOut`, `.tls`, socket
    ///   errors; `CancellationError`.
    public func unwrap(deadline: Deadline? = nil) async throws -> Socket? {
        guard let ssl else { throw IOError.invalidArgument("No SSL wrapper around the socket") }
        while true {
            let outcome: IOOutcome
            do {
                outcome = try await drive(.shutdown, deadline: deadline) { SSL_shutdown(ssl) }
            } catch EndOfStream.closeNotify {
                break
            } catch EndOfStream.ragged {
                throw IOError(.tlsEOF, "EOF occurred in violation of protocol")
            }
            if case .wouldBlock = outcome { return nil }
            if case .completed(1) = outcome { break }
            // 0: our close_notify went out; call again to receive the peer's.
        }
        // Plain bytes written after the descriptor is handed over must follow our close_notify.
        var waitDeadline: Deadline?
        guard try await flushed(.shutdown, deadline: deadline, waitDeadline: &waitDeadline) else { return nil }
        self.ssl = nil
        SSL_free(ssl)
        isClosed = true
        // Cleartext the peer sent right behind its close_notify may already be in the read-ahead
        // buffer: it is the plain socket's first input.
        let carried = transport.takeBuffered()
        let family = socket.family
        let fd = socket.detach()
        guard fd >= 0 else { throw IOError.system(.badFileDescriptor) }
        return Socket(descriptor: fd, family: family, timeout: timeout, carrying: carried)
    }

    // MARK: Information

    /// Bytes of TLS records the socket has encrypted and the kernel has not taken yet (at most about
    /// one record): the hub sends them as soon as the descriptor is writable, before anything else.
    /// Only non-blocking code sees it above 0 after a write returns; wait for 0 (on the hub, for
    /// writability) before a `close()` that must not drop them.
    public var unsentByteCount: Int { transport.unsentCount }

    /// Bytes a read can start on without the descriptor (Python's `pending()`): the decrypted bytes
    /// OpenSSL holds, plus the bytes of records already received ahead and not decrypted yet (which
    /// CPython's sockets would still have in the kernel). So, as in Python, 0 means "wait for the
    /// descriptor before reading" — records received ahead never hide behind a descriptor that is
    /// not readable. A non-zero count of undecrypted bytes can still end in "would block" if only part
    /// of a record has come. 0 once unwrapped.
    public var pending: Int {
        guard let ssl else { return 0 }
        return Int(SSL_pending(ssl)) + transport.bufferedCount
    }

    /// The negotiated protocol version ("TLSv1.3"), or nil before the handshake.
    public var negotiatedVersion: String? {
        guard let ssl, handshakeDone, let name = SSL_get_version(ssl) else { return nil }
        return String(cString: name)
    }

    /// The negotiated cipher suite ("TLS_AES_256_GCM_SHA384"), or nil before the handshake.
    public var cipher: String? {
        guard let ssl, handshakeDone, let cipher = SSL_get_current_cipher(ssl), let name = SSL_CIPHER_get_name(cipher) else {
            return nil
        }
        return String(cString: name)
    }

    /// The ALPN protocol both sides agreed on, or nil.
    public var alpnProtocol: String? {
        guard let ssl else { return nil }
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// Whether the handshake resumed an earlier session.
    public var sessionReused: Bool { ssl.map { SSL_session_reused($0) == 1 } ?? false }

    /// The client's session, to offer on a later connection to the same server
    /// (`wrap(_:context:serverHostname:session:handshake:suppressRaggedEOFs:)`); nil on servers,
    /// before the handshake, once unwrapped, and when the server issued nothing to resume with.
    ///
    /// In TLS 1.3 the server sends its session tickets after the handshake, and the client takes
    /// them in while it reads: so read first — the session is available once application data
    /// (or the end of the stream) has been read, and a connection that never reads has none. In
    /// TLS 1.2 it is available right after the handshake. Each call returns the newest session; it
    /// stays readable after `close()`. The corresponding C function is `SSL_get1_session`.
    public var session: TLSClientSession? {
        guard context.role == .client, let ssl else { return nil }
        return TLSClientSession(resumableFrom: ssl)
    }

    /// The subject of the peer's certificate in RFC 2253 form ("CN=alice,O=Example"), or nil if it
    /// sent none (or the connection is closed). On a server that verifies client certificates,
    /// a subject means a verified client.
    public var peerCertificateSubject: String? {
        guard let ssl, let certificate = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(certificate) }
        guard let name = X509_get_subject_name(certificate) else { return nil }
        return try? PEM.text { bio in X509_NAME_print_ex(bio, name, 0, greenio_XN_FLAG_RFC2253()) >= 0 ? 1 : 0 }
    }

    /// The peer's certificate, PEM-encoded, or nil if it sent none.
    public func peerCertificatePEM() throws -> String? {
        guard let ssl, let certificate = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(certificate) }
        return try PEM.text { PEM_write_bio_X509($0, certificate) }
    }

    // MARK: The loop

    /// What a TLS operation is, for its wait slots and timeout message.
    enum Operation {
        case read, write, handshake, shutdown

        var timeoutMessage: String {
            switch self {
            case .read: return "The read operation timed out"
            case .write: return "The write operation timed out"
            case .handshake: return "The handshake operation timed out"
            case .shutdown: return "The read operation timed out"
            }
        }

        /// The reader's own direction is read and the writer's is write; waiting in the other one
        /// takes the second slot, so a reader and a writer can both wait for the same direction.
        func slot(for direction: Interest) -> WaitSlot {
            switch (self, direction) {
            case (.read, .write), (.write, .read): return .secondary
            default: return .primary
            }
        }
    }

    /// The end of the stream, as OpenSSL reports it to the loop.
    enum EndOfStream: Error {
        case closeNotify
        case ragged
    }

    /// Waits until the kernel has taken all the ciphertext the BIO keeps (see `SocketBIO`).
    /// - Returns: true when none is kept; false in non-blocking mode while some is (the hub sends it
    ///   once the descriptor is writable).
    /// - Throws: the BIO's send failure as `IOError` `.system`; `IOError` `.timedOut` with the
    ///   operation's message; `.closed`; `CancellationError`.
    private func flushed(_ operation: Operation, deadline: Deadline?, waitDeadline: inout Deadline?) async throws -> Bool {
        while !flushKept() {
            flushWhenWritable()
            if timeout == .nonBlocking { return false }
            let limit = waitDeadline ?? timeout.deadline(capping: deadline)
            waitDeadline = limit
            do {
                try await socket.wait(for: .write, until: limit, slot: operation.slot(for: .write))
            } catch let error as IOError where error.kind == .timedOut {
                throw IOError(.timedOut, operation.timeoutMessage)
            }
        }
        if let failure = transport.sendFailure { throw IOError.system(failure) }
        return true
    }

    /// Has the hub send the ciphertext the BIO keeps whenever the descriptor is writable, until
    /// none is left.
    private func flushWhenWritable() {
        socket.whenWritable { [weak self] in
            guard let self else { return false }
            return !self.flushKept()
        }
    }

    /// Sends the ciphertext the BIO keeps as far as the kernel takes it, then a deferred TCP
    /// shutdown once none is left.
    /// - Returns: true when none is left.
    private func flushKept() -> Bool {
        guard transport.flush() else { return false }
        if shutsDownAfterFlush {
            shutsDownAfterFlush = false
            try? socket.shutdown(.write)
        }
        return true
    }

    /// `drive(_:deadline:waitDeadline:_:)` with a deadline of its own.
    @inline(__always)
    private func drive(_ operation: Operation, deadline: Deadline?, _ call: () -> Int32) async throws -> IOOutcome {
        var waitDeadline: Deadline?
        return try await drive(operation, deadline: deadline, waitDeadline: &waitDeadline, call)
    }

    /// Calls `call` until it returns a positive result, waiting on the hub in whichever direction
    /// OpenSSL asks for (or, in non-blocking mode, returning that direction). Ciphertext the call
    /// wrote and the kernel did not take is left to the hub (`flushWhenWritable`): no operation
    /// waits for it except a write, before and after encrypting (`flushed`).
    /// - Parameter waitDeadline: the call's deadline, once a wait has fixed it (shared by the
    ///   waits of one public call).
    /// - Throws: `EndOfStream`, `IOError` (timeouts with the operation's message), `CancellationError`.
    private func drive(_ operation: Operation, deadline: Deadline?, waitDeadline: inout Deadline?,
                       _ call: () -> Int32) async throws -> IOOutcome {
        guard let ssl else { throw IOError.invalidArgument("Operation on closed or unwrapped SSL socket.") }
        let mode = timeout
        // A read works again (after a non-blocking would-block); a write leaves the mark alone: a
        // reader parked on this socket meanwhile is still idle.
        if operation == .read { idleSince = nil }
        while true {
            OpenSSLErrors.clear()
            let result = call()
            if transport.unsentCount > 0 { flushWhenWritable() }
            if result > 0 {
                // Application data moved: the handshake is over, even if it ran inside this call.
                if operation == .read || operation == .write { handshakeDone = true }
                return .completed(Int(result))
            }
            // SSL_shutdown's 0: our close_notify is out (SSL_get_error must not be asked about it).
            if result == 0 && operation == .shutdown { return .completed(0) }
            let savedErrno = Errno.current
            let direction: Interest
            switch SSL_get_error(ssl, result) {
            case SSL_ERROR_NONE:
                return .completed(Int(result))
            case SSL_ERROR_WANT_READ:
                direction = .read
            case SSL_ERROR_WANT_WRITE:
                direction = .write
            case SSL_ERROR_ZERO_RETURN:
                throw EndOfStream.closeNotify
            case SSL_ERROR_SYSCALL:
                if ERR_peek_error() == 0 && (savedErrno.rawValue == 0 || result == 0) { throw EndOfStream.ragged }
                throw IOError.system(savedErrno.rawValue == 0 ? .connectionReset : savedErrno)
            default:
                throw classifySSLError(operation)
            }
            if mode == .nonBlocking {
                if direction == .read { beginIdle() }
                return .wouldBlock(direction)
            }
            let limit = waitDeadline ?? mode.deadline(capping: deadline)
            waitDeadline = limit
            if direction == .read {
                // The wait may take the edge of bytes that no recv has seen yet.
                transport.drained = false
                beginIdle()
            }
            do {
                defer { idleSince = nil }
                try await socket.wait(for: direction, until: limit, slot: operation.slot(for: direction))
            } catch let error as IOError where error.kind == .timedOut {
                throw IOError(.timedOut, operation.timeoutMessage)
            }
        }
    }

    /// The error for `SSL_ERROR_SSL`: a ragged EOF, a failed certificate check, or another protocol
    /// error with OpenSSL's text.
    private func classifySSLError(_ operation: Operation) -> Error {
        let reason = OpenSSLErrors.peekReason()
        if reason == greenio_SSL_R_UNEXPECTED_EOF_WHILE_READING() {
            OpenSSLErrors.clear()
            return EndOfStream.ragged
        }
        if reason == SSL_R_CERTIFICATE_VERIFY_FAILED, let ssl {
            let detail = String(cString: X509_verify_cert_error_string(SSL_get_verify_result(ssl)))
            OpenSSLErrors.clear()
            return IOError(.certificateVerificationFailed, "certificate verify failed: \(detail)")
        }
        return OpenSSLErrors.error("TLS \(operation) failed")
    }
}
