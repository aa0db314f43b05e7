import Glibc

/// A socket option: its level and name for `setsockopt(2)` / `getsockopt(2)`.
public struct SocketOption: Hashable, Sendable {
    /// The protocol level (`SOL_SOCKET`, `IPPROTO_TCP`, …).
    public let level: Int32
    /// The option name (`SO_REUSEADDR`, `TCP_NODELAY`, …).
    public let name: Int32

    /// An option from its C level and name, for options GreenIO has no constant for.
    public init(level: Int32, name: Int32) {
        self.level = level
        self.name = name
    }

    /// `TCP_NODELAY`: send small segments at once (Nagle's algorithm off).
    public static let noDelay = SocketOption(level: Int32(IPPROTO_TCP), name: TCP_NODELAY)
    /// `SO_REUSEADDR`: bind a listening port still in TIME_WAIT.
    public static let reuseAddress = SocketOption(level: SOL_SOCKET, name: SO_REUSEADDR)
    /// `SO_REUSEPORT`: several sockets share one port (the kernel spreads connections).
    public static let reusePort = SocketOption(level: SOL_SOCKET, name: SO_REUSEPORT)
    /// `SO_KEEPALIVE`: TCP keepalive probes on idle connections.
    public static let keepAlive = SocketOption(level: SOL_SOCKET, name: SO_KEEPALIVE)
    /// `TCP_KEEPIDLE`: seconds idle before the first keepalive probe.
    public static let keepAliveIdle = SocketOption(level: Int32(IPPROTO_TCP), name: TCP_KEEPIDLE)
    /// `TCP_KEEPINTVL`: seconds between keepalive probes.
    public static let keepAliveInterval = SocketOption(level: Int32(IPPROTO_TCP), name: TCP_KEEPINTVL)
    /// `TCP_KEEPCNT`: unanswered probes before the connection is dropped.
    public static let keepAliveCount = SocketOption(level: Int32(IPPROTO_TCP), name: TCP_KEEPCNT)
    /// `SO_RCVBUF`: the receive buffer size in bytes.
    public static let receiveBufferSize = SocketOption(level: SOL_SOCKET, name: SO_RCVBUF)
    /// `SO_SNDBUF`: the send buffer size in bytes.
    public static let sendBufferSize = SocketOption(level: SOL_SOCKET, name: SO_SNDBUF)
    /// `SO_ERROR`: the pending socket error (reading it clears it).
    public static let error = SocketOption(level: SOL_SOCKET, name: SO_ERROR)
}

extension Socket {
    /// Sets an integer option (`setsockopt`).
    /// - Throws: `IOError` `.system` (`ENOPROTOOPT`, `EBADF`, …).
    public func setOption(_ option: SocketOption, _ value: Int) throws {
        var raw = Int32(clamping: value)
        let fd = try openDescriptor()
        try SystemCall.setOption(fd, level: option.level, name: option.name, &raw, socklen_t(MemoryLayout<Int32>.size)).orThrow()
    }

    /// Sets a boolean option (`setsockopt` with 1 or 0).
    public func setOption(_ option: SocketOption, _ value: Bool) throws {
        try setOption(option, value ? 1 : 0)
    }

    /// Reads an integer option (`getsockopt`).
    /// - Throws: `IOError` `.system`.
    public func intOption(_ option: SocketOption) throws -> Int {
        var raw: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        let fd = try openDescriptor()
        try SystemCall.getOption(fd, level: option.level, name: option.name, &raw, &length).orThrow()
        return Int(raw)
    }

    /// Sets `SO_LINGER`: nil turns lingering off; `0` makes `close()` reset the connection (RST).
    /// - Throws: `IOError` `.system`.
    public func setLinger(seconds: Int?) throws {
        var value = linger(l_onoff: seconds == nil ? 0 : 1, l_linger: Int32(clamping: seconds ?? 0))
        let fd = try openDescriptor()
        try SystemCall.setOption(fd, level: SOL_SOCKET, name: SO_LINGER, &value, socklen_t(MemoryLayout<linger>.size)).orThrow()
    }
}
