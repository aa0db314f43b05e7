import GreenIO
import Glibc

/// A server's listening sockets, bound on the calling thread before its hubs start (so a bind
/// error is thrown by `start()` and a port 0 is known at once): for each accepting hub, one
/// descriptor per configured address. TCP hubs each get their own socket on the same port
/// (`SO_REUSEPORT` when there are several); a Unix socket is bound once and shared through `dup`.
/// With `.leastConnections` only hub 0 accepts, and only it gets descriptors.
struct ListenerSet: ~Copyable {
    /// Per hub, the listening descriptors (detached: each hub adopts its own).
    private(set) var descriptors: [[Int32]]
    /// The bound address of each configured address (the port chosen for a port 0).
    let addresses: [SocketAddress]
    /// The Unix socket files made, removed when the server stops.
    let unixPaths: [String]

    /// Binds and listens on every address for every hub.
    /// - Throws: `ServerError` "cannot listen on ADDRESS: REASON"; what was bound is closed.
    init(_ configuration: ServerConfiguration) throws {
        var descriptors = Array(repeating: [Int32](), count: configuration.hubs)
        var addresses: [SocketAddress] = []
        var unixPaths: [String] = []
        do {
            for address in configuration.addresses {
                let perHub: [Int32]
                let bound: SocketAddress
                do {
                    switch address {
                    case .tcp(let host, let port):
                        (perHub, bound) = try Self.bindTCP(host: host, port: port, configuration: configuration)
                    case .unix(let path):
                        (perHub, bound) = try Self.bindUnix(path: path, configuration: configuration)
                        unixPaths.append(path)
                    }
                } catch {
                    throw ServerError("cannot listen on \(address): \(error)")
                }
                for (hub, fd) in perHub.enumerated() { descriptors[hub].append(fd) }
                addresses.append(bound)
            }
        } catch {
            for fd in descriptors.joined() { Glibc.close(fd) }
            for path in unixPaths { unlink(path) }
            throw error
        }
        self.descriptors = descriptors
        self.addresses = addresses
        self.unixPaths = unixPaths
    }

    /// Hands hub `index`'s descriptors over (they are the hub's to adopt and close from now on).
    mutating func take(hub index: Int) -> [Int32] {
        defer { descriptors[index] = [] }
        return descriptors[index]
    }

    /// Closes every descriptor not taken yet.
    consuming func closeRemaining() {
        for fd in descriptors.joined() { Glibc.close(fd) }
    }

    private static func bindTCP(host: String, port: Int, configuration: ServerConfiguration) throws -> ([Int32], SocketAddress) {
        let address = try SocketAddress.resolveBlocking(host: host, port: port, passive: true)[0]
        var fds: [Int32] = []
        do {
            var bound = address
            for _ in 0..<configuration.acceptingHubs {
                let socket = try Socket(family: address.family)
                do {
                    try socket.setOption(.reuseAddress, true)
                    if configuration.acceptingHubs > 1 { try socket.setOption(.reusePort, true) }
                    try socket.bind(to: bound)
                    try socket.listen(backlog: configuration.backlog)
                    if fds.isEmpty { bound = try socket.localAddress() }
                } catch {
                    socket.close()
                    throw error
                }
                fds.append(socket.detach())
            }
            return (fds, bound)
        } catch {
            for fd in fds { Glibc.close(fd) }
            throw error
        }
    }

    private static func bindUnix(path: String, configuration: ServerConfiguration) throws -> ([Int32], SocketAddress) {
        var status = stat()
        if lstat(path, &status) == 0 {
            // A socket file left by an earlier server is replaced; anything else is not ours.
            guard status.st_mode & S_IFMT == S_IFSOCK else { throw IOError.system(.init(rawValue: EEXIST)) }
            unlink(path)
        }
        let socket = try Socket(family: AF_UNIX)
        do {
            try socket.bind(to: .unix(path: path))
            try socket.listen(backlog: configuration.backlog)
        } catch {
            socket.close()
            throw error
        }
        let first = socket.detach()
        var fds = [first]
        for _ in 1..<configuration.acceptingHubs {
            let copy = dup(first)
            guard copy >= 0 else {
                let error = IOError.system(.current)
                for fd in fds { Glibc.close(fd) }
                unlink(path)
                throw error
            }
            fds.append(copy)
        }
        return (fds, .unix(path: path))
    }
}
