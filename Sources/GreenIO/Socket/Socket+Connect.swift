import Glibc

extension Socket {
    /// Binds the socket to a local address (`bind(2)`).
    /// - Throws: `IOError` `.system` (`EADDRINUSE`, `EACCES`, …); `.invalidArgument` for a bad address.
    public func bind(to address: SocketAddress) throws {
        let fd = try openDescriptor()
        try address.withSockAddr { SystemCall.bind(fd, $0, $1) }.orThrow()
    }

    /// Starts listening for connections (`listen(2)`).
    /// - Throws: `IOError` `.system`.
    public func listen(backlog: Int = 128) throws {
        try SystemCall.listen(try openDescriptor(), backlog: Int32(clamping: backlog)).orThrow()
    }

    /// Accepts one connection.
    ///
    /// The new socket starts in the process-wide default timeout mode, not the listener's (Python,
    /// bpo-7995), and its descriptor is registered with the current hub. In non-blocking mode,
    /// with no connection pending, throws `IOError` `.wouldBlock`.
    ///
    /// - Throws: `IOError` `.timedOut` ("timed out"), `.wouldBlock`, `.system` (`EMFILE`, …),
    ///   `.closed` if the listener is closed while waiting; `CancellationError`.
    public func accept() async throws -> (Socket, SocketAddress) {
        let mode = timeout
        var waitDeadline: Deadline?
        while true {
            let fd = try openDescriptor()
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let accepted = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { SystemCall.accept(fd, $0, &length) }
            }
            switch accepted {
            case .success(let client):
                let address = withUnsafePointer(to: &storage) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress($0, length: length) }
                }
                let socket = Socket(descriptor: client, family: family, timeout: TimeoutMode.default)
                return (socket, address ?? .unix(path: ""))
            case .failure(let errno):
                // A connection the peer reset before it was accepted: take the next one.
                if errno == .connectionAborted { continue }
                guard errno == .wouldBlock else { throw IOError.system(errno) }
            }
            if mode == .nonBlocking { throw IOError.wouldBlock() }
            let limit = waitDeadline ?? mode.deadline(capping: nil)
            waitDeadline = limit
            try await wait(for: .read, until: limit)
        }
    }

    /// Connects to `address` (Python's `connect`).
    ///
    /// In blocking and timeout modes the green thread waits for the connection; in non-blocking mode
    /// a connection in progress throws `IOError` `.wouldBlock` with `errno` `EINPROGRESS`.
    ///
    /// - Throws: `IOError` `.timedOut` ("timed out"; the socket is then in an undefined state and
    ///   a second `connect` reports `EALREADY`), `.system` (`ECONNREFUSED`, …); `CancellationError`.
    public func connect(to address: SocketAddress, deadline: Deadline? = nil) async throws {
        let fd = try openDescriptor()
        let mode = timeout
        switch try address.withSockAddr({ SystemCall.connect(fd, $0, $1) }) {
        case .success: return
        case .failure(let errno): guard errno == .inProgress else { throw IOError.system(errno) }
        }
        if mode == .nonBlocking { throw IOError(.wouldBlock, Errno.inProgress.message, errno: .inProgress) }
        let waitDeadline = mode.deadline(capping: deadline)
        while true {
            try await wait(for: .write, until: waitDeadline)
            // A wake-up only means "look again": it may be readiness the hub saw before this connect
            // started (a fresh, unconnected socket polls as writable). A failure is in SO_ERROR; the
            // handshake is done once the socket has a peer.
            let error = try intOption(.error)
            if error != 0 { throw IOError.system(Errno(rawValue: Int32(error))) }
            if (try? peerAddress()) != nil { return }
        }
    }

    /// Python's `connect_ex`: connects and returns 0, or the error number instead of throwing.
    /// A timeout gives `EAGAIN`, as in CPython. `CancellationError` is still thrown.
    public func connectEx(to address: SocketAddress) async throws -> Int32 {
        do {
            try await connect(to: address)
            return 0
        } catch let error as IOError {
            if error.kind == .timedOut { return EAGAIN }
            return error.errno?.rawValue ?? EINVAL
        }
    }

    /// The local address (`getsockname`).
    /// - Throws: `IOError` `.system` (`EBADF` once closed).
    public func localAddress() throws -> SocketAddress {
        try address { SystemCall.localName($0, $1, $2) }
    }

    /// The peer's address (`getpeername`).
    /// - Throws: `IOError` `.system` (`ENOTCONN`, `EBADF`).
    public func peerAddress() throws -> SocketAddress {
        try address { SystemCall.peerName($0, $1, $2) }
    }

    private func address(_ call: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Result<Void, Errno>) throws -> SocketAddress {
        let fd = try openDescriptor()
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        try withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { call(fd, $0, &length) }
        }.orThrow()
        let decoded = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress($0, length: length) }
        }
        guard let decoded else { throw IOError.invalidArgument("unsupported address family") }
        return decoded
    }

    // MARK: create_connection / create_server

    /// Connects to `host:port` the way Python's `socket.create_connection` does: resolve the name
    /// (off the hub), then try each address in order until one connects.
    ///
    /// - Parameters:
    ///   - host: a name (resolved with `getaddrinfo`) or a numeric IPv4 or IPv6 address.
    ///   - port: the TCP port.
    ///   - timeout: the new socket's mode; nil (the default) uses `TimeoutMode.default`, while an
    ///     explicit `.blocking` blocks even if a default timeout is set. It also bounds each connect.
    ///   - sourceAddress: a local address to bind before connecting.
    ///   - allErrors: on failure throw `ConnectionFailures` with every address's error instead of
    ///     the last one.
    /// - Throws: the last address's error (`IOError` `.timedOut` "timed out", `ECONNREFUSED`, …),
    ///   `IOError` `.addressResolution`, or `ConnectionFailures`; `CancellationError`.
    public static func connect(host: String, port: Int, timeout: TimeoutMode? = nil,
                               sourceAddress: SocketAddress? = nil, allErrors: Bool = false) async throws -> Socket {
        let mode = try (timeout ?? TimeoutMode.default).validated()
        let addresses = try await SocketAddress.resolve(host: host, port: port)
        var errors: [any Error] = []
        for address in addresses {
            let socket: Socket
            do {
                socket = try Socket(family: address.family)
            } catch {
                errors.append(error)
                continue
            }
            do {
                try socket.setTimeout(mode)
                if let sourceAddress { try socket.bind(to: sourceAddress) }
                try await socket.connect(to: address)
                return socket
            } catch {
                socket.close()
                if error is CancellationError { throw error }
                errors.append(error)
            }
        }
        if allErrors { throw ConnectionFailures(errors: errors) }
        throw errors.last ?? IOError(.system, "getaddrinfo returns an empty list")
    }

    /// Creates a listening TCP socket bound to `host:port` (Python's `socket.create_server`).
    ///
    /// - Parameters:
    ///   - host: a name or numeric address; nil listens on all IPv4 addresses.
    ///   - port: 0 picks a free port (see `localAddress()`).
    ///   - backlog: the length of the kernel's queue of connections not yet accepted (`listen(2)`).
    ///   - reuseAddress: sets `SO_REUSEADDR` (default true, as Python does on POSIX).
    ///   - reusePort: sets `SO_REUSEPORT`, so several listeners (one per hub) can share the port.
    /// - Throws: `IOError` `.addressResolution`, `.system` (`EADDRINUSE`, …).
    public static func listen(host: String? = nil, port: Int, backlog: Int = 128,
                              reuseAddress: Bool = true, reusePort: Bool = false) async throws -> Socket {
        let address = try await SocketAddress.resolve(host: host ?? "0.0.0.0", port: port, passive: true)[0]
        let socket = try Socket(family: address.family)
        do {
            if reuseAddress { try socket.setOption(.reuseAddress, true) }
            if reusePort { try socket.setOption(.reusePort, true) }
            try socket.bind(to: address)
            try socket.listen(backlog: backlog)
            return socket
        } catch {
            socket.close()
            throw error
        }
    }
}

/// Every address's error from `Socket.connect(host:port:allErrors: true)` (Python's
/// `ExceptionGroup("create_connection failed", …)`).
public struct ConnectionFailures: Error, CustomStringConvertible {
    /// One error per address tried, in order.
    public let errors: [any Error]

    /// Python's text: "create_connection failed (N sub-exceptions)".
    public var description: String {
        "create_connection failed (\(errors.count) sub-exception\(errors.count == 1 ? "" : "s"))"
    }
}
