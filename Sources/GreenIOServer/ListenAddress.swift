import GreenIO

/// An address a `Server` listens on.
public enum ListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// A TCP host (a name, or a numeric IPv4 or IPv6 address; "0.0.0.0" or "::" for every
    /// address) and port (0 picks a free one: read it from `Server.localAddresses` once started).
    case tcp(host: String, port: Int)
    /// A Unix-domain stream socket at `path`. A socket file left at `path` by an earlier server is
    /// replaced; any other file there is an error. The file is removed when the server stops.
    case unix(path: String)

    /// "host:port" ("[host]:port" for an IPv6 address), or the path.
    public var description: String {
        switch self {
        case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): return path
        }
    }
}
