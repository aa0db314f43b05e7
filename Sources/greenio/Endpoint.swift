import ArgumentParser

/// A `HOST:PORT` command-line argument: `127.0.0.1:7878`, `localhost:7878`, `[::1]:7878`.
struct Endpoint: ExpressibleByArgument, CustomStringConvertible, Sendable {
    /// The host name or numeric address, without brackets.
    let host: String
    /// The port, 1...65535.
    let port: Int

    /// Parses `HOST:PORT`; an IPv6 address must be in brackets. Returns nil if malformed.
    init?(argument: String) {
        let hostPart: Substring
        let portPart: Substring
        if argument.hasPrefix("[") {
            guard let close = argument.firstIndex(of: "]") else { return nil }
            hostPart = argument[argument.index(after: argument.startIndex)..<close]
            let rest = argument[argument.index(after: close)...]
            guard rest.first == ":" else { return nil }
            portPart = rest.dropFirst()
        } else {
            guard let colon = argument.lastIndex(of: ":") else { return nil }
            hostPart = argument[..<colon]
            portPart = argument[argument.index(after: colon)...]
            if hostPart.contains(":") { return nil }  // IPv6 needs brackets.
        }
        guard !hostPart.isEmpty, !hostPart.contains(where: { $0 == "[" || $0 == "]" || $0.isWhitespace }),
              !portPart.isEmpty, portPart.allSatisfy(\.isASCII), portPart.allSatisfy(\.isNumber),
              let port = Int(portPart), (1...65535).contains(port) else { return nil }
        self.host = String(hostPart)
        self.port = port
    }

    var description: String { Self.describe(host: host, port: port) }

    /// `host:port`, with an IPv6 host in brackets.
    static func describe(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
