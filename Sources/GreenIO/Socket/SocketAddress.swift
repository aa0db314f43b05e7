import CGreenIO
import Glibc

/// A socket address: IPv4, IPv6 or a Unix-domain path.
public enum SocketAddress: Hashable, Sendable, CustomStringConvertible {
    /// An IPv4 address in text form ("127.0.0.1") and a port.
    case ipv4(host: String, port: Int)
    /// An IPv6 address in text form ("::1") and a port.
    case ipv6(host: String, port: Int, scopeID: UInt32 = 0)
    /// A Unix-domain socket path (empty for an unnamed socket).
    case unix(path: String)

    /// An address from a numeric host ("127.0.0.1", "::1") and a port; no name lookup.
    ///
    /// - Throws: `IOError` `.invalidArgument` if `host` is not a numeric IPv4 or IPv6 address or
    ///   the port is outside 0...65535.
    public init(numericHost host: String, port: Int) throws {
        guard (0...65535).contains(port) else { throw IOError.invalidArgument("port must be 0-65535.") }
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            self = .ipv4(host: host, port: port)
        } else if inet_pton(AF_INET6, host, &v6) == 1 {
            self = .ipv6(host: host, port: port)
        } else {
            throw IOError.invalidArgument("not a numeric IP address: \(host)")
        }
    }

    /// The address family constant (`AF_INET`, `AF_INET6`, `AF_UNIX`).
    public var family: Int32 {
        switch self {
        case .ipv4: return AF_INET
        case .ipv6: return AF_INET6
        case .unix: return AF_UNIX
        }
    }

    /// The port, or nil for Unix addresses.
    public var port: Int? {
        switch self {
        case .ipv4(_, let port), .ipv6(_, let port, _): return port
        case .unix: return nil
        }
    }

    /// The host in text form, or the path for Unix addresses.
    public var host: String {
        switch self {
        case .ipv4(let host, _), .ipv6(let host, _, _): return host
        case .unix(let path): return path
        }
    }

    /// "127.0.0.1:7878", "[::1]:7878", the Unix path, or "unix:unnamed" for an unnamed Unix socket
    /// (the usual client of a Unix-domain server, whose `path` is empty), so a log line never
    /// names an empty peer.
    public var description: String {
        switch self {
        case .ipv4(let host, let port): return "\(host):\(port)"
        case .ipv6(let host, let port, _): return "[\(host)]:\(port)"
        case .unix(let path): return path.isEmpty ? "unix:unnamed" : path
        }
    }

    /// Calls `body` with the C `sockaddr` form of the address.
    /// - Throws: `IOError` `.invalidArgument` for a malformed host or a too-long Unix path.
    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) throws -> R {
        switch self {
        case .ipv4(let host, let port):
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(truncatingIfNeeded: port).bigEndian
            guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
                throw IOError.invalidArgument("not a numeric IPv4 address: \(host)")
            }
            return try withUnsafePointer(to: &address) {
                try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    try body($0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        case .ipv6(let host, let port, let scopeID):
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = UInt16(truncatingIfNeeded: port).bigEndian
            address.sin6_scope_id = scopeID
            guard inet_pton(AF_INET6, host, &address.sin6_addr) == 1 else {
                throw IOError.invalidArgument("not a numeric IPv6 address: \(host)")
            }
            return try withUnsafePointer(to: &address) {
                try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    try body($0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        case .unix(let path):
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            let capacity = MemoryLayout.size(ofValue: address.sun_path)
            guard bytes.count < capacity else { throw IOError.invalidArgument("AF_UNIX path too long") }
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                raw.copyBytes(from: bytes)
            }
            let length = MemoryLayout<sa_family_t>.size + bytes.count + 1
            return try withUnsafePointer(to: &address) {
                try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    try body($0, socklen_t(length))
                }
            }
        }
    }

    /// The numeric text of a binary address in network byte order: "a.b.c.d" for `AF_INET` (4
    /// bytes), what `inet_ntop` writes for `AF_INET6` (16 bytes); "" for anything else. IPv4 is
    /// written directly, without `inet_ntop`'s `sprintf`: a server decodes an address for every
    /// accepted connection, and two for every PROXY v2 header. The corresponding C function is
    /// `inet_ntop`.
    package static func numericHost(family: Int32, bytes: UnsafeRawBufferPointer) -> String {
        if family == AF_INET, bytes.count == 4 {
            return String(unsafeUninitializedCapacity: 15) { text in
                var count = 0
                for (index, octet) in bytes.enumerated() {
                    if index > 0 {
                        text[count] = UInt8(ascii: ".")
                        count += 1
                    }
                    if octet >= 100 {
                        text[count] = UInt8(ascii: "0") + octet / 100
                        count += 1
                    }
                    if octet >= 10 {
                        text[count] = UInt8(ascii: "0") + octet / 10 % 10
                        count += 1
                    }
                    text[count] = UInt8(ascii: "0") + octet % 10
                    count += 1
                }
                return count
            }
        }
        guard family == AF_INET6, bytes.count == 16 else { return "" }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(INET6_ADDRSTRLEN)) { text in
            guard let base = text.baseAddress,
                  inet_ntop(AF_INET6, bytes.baseAddress, base, socklen_t(text.count)) != nil else { return "" }
            return String(cString: base)
        }
    }

    /// Decodes a C socket address; nil for families GreenIO does not know.
    init?(_ storage: UnsafePointer<sockaddr>, length: socklen_t) {
        switch Int32(storage.pointee.sa_family) {
        case AF_INET:
            var address = UnsafeRawPointer(storage).loadUnaligned(as: sockaddr_in.self)
            let host = withUnsafeBytes(of: &address.sin_addr) { Self.numericHost(family: AF_INET, bytes: $0) }
            self = .ipv4(host: host, port: Int(UInt16(bigEndian: address.sin_port)))
        case AF_INET6:
            var address = UnsafeRawPointer(storage).loadUnaligned(as: sockaddr_in6.self)
            let host = withUnsafeBytes(of: &address.sin6_addr) { Self.numericHost(family: AF_INET6, bytes: $0) }
            self = .ipv6(host: host, port: Int(UInt16(bigEndian: address.sin6_port)), scopeID: address.sin6_scope_id)
        case AF_UNIX:
            let pathOffset = MemoryLayout<sa_family_t>.size
            let count = max(0, Int(length) - pathOffset)
            let raw = UnsafeRawBufferPointer(start: UnsafeRawPointer(storage) + pathOffset, count: count)
            self = .unix(path: String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self))
        default:
            return nil
        }
    }

    /// Resolves `host` and `port` with `getaddrinfo` for stream sockets, in the system's order.
    ///
    /// A numeric host is converted at once; a name is looked up on a helper thread so the hub keeps
    /// running. `host` nil means the wildcard address for `passive` lookups, else loopback.
    ///
    /// - Throws: `IOError` `.addressResolution` with the `EAI_*` code and `gai_strerror` text
    ///   ("Name or service not known"); `.invalidArgument` for a port outside 0...65535.
    public static func resolve(host: String?, port: Int, passive: Bool = false) async throws -> [SocketAddress] {
        if let numeric = try numericAddress(host: host, port: port) { return [numeric] }
        let result: Result<[SocketAddress], IOError> = await Hub.offload {
            lookUp(host: host, port: port, passive: passive)
        }
        return try result.get()
    }

    /// `resolve(host:port:passive:)` on the calling thread: blocks in `getaddrinfo` for a name.
    /// For set-up code off the hubs (a server binding its listeners before its hubs start); on a
    /// hub, use `resolve`, which keeps the hub running. The corresponding C function is
    /// `getaddrinfo`.
    /// - Throws: as `resolve`.
    public static func resolveBlocking(host: String?, port: Int, passive: Bool = false) throws -> [SocketAddress] {
        if let numeric = try numericAddress(host: host, port: port) { return [numeric] }
        return try lookUp(host: host, port: port, passive: passive).get()
    }

    /// The address when `host` is numeric (no lookup needed); nil for a name or no host.
    /// - Throws: `IOError` `.invalidArgument` for a port outside 0...65535.
    private static func numericAddress(host: String?, port: Int) throws -> SocketAddress? {
        guard (0...65535).contains(port) else { throw IOError.invalidArgument("port must be 0-65535.") }
        guard let host else { return nil }
        return try? SocketAddress(numericHost: host, port: port)
    }

    private static func lookUp(host: String?, port: Int, passive: Bool) -> Result<[SocketAddress], IOError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = passive ? AI_PASSIVE : 0
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0 else {
            let message = String(cString: gai_strerror(status))
            return .failure(IOError(.addressResolution, message, code: status))
        }
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        var cursor = list
        while let entry = cursor {
            if let address = entry.pointee.ai_addr, let decoded = SocketAddress(address, length: entry.pointee.ai_addrlen),
               !addresses.contains(decoded) {
                addresses.append(decoded)
            }
            cursor = entry.pointee.ai_next
        }
        if addresses.isEmpty { return .failure(IOError(.system, "getaddrinfo returns an empty list")) }
        return .success(addresses)
    }
}
