import GreenIO
import Glibc

/// A block of IP addresses in CIDR notation — `10.0.0.0/8`, `2001:db8::/32`, or one address
/// (`127.0.0.1`, a /32 or /128) — as Python's `ipaddress.ip_network(strict=False)` reads it.
///
/// An IPv4 block also contains the IPv4-mapped IPv6 form of its addresses (`::ffff:10.1.2.3`),
/// which is how a dual-stack listener sees an IPv4 peer.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    /// `AF_INET` or `AF_INET6`.
    public let family: Int32
    /// The prefix length: 0...32 for IPv4, 0...128 for IPv6.
    public let prefixLength: Int
    /// The network address, host bits cleared (4 or 16 bytes).
    private let network: [UInt8]

    /// Parses `ADDRESS` or `ADDRESS/PREFIX`; host bits after the prefix are ignored
    /// (`10.1.2.3/8` is `10.0.0.0/8`).
    /// - Throws: `ServerError` naming the text when it is not a numeric address with an optional
    ///   prefix length in range.
    public init(_ text: String) throws {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let address = String(parts[0])
        var binary = [UInt8](repeating: 0, count: 16)
        if inet_pton(AF_INET, address, &binary) == 1 {
            family = AF_INET
            binary.removeLast(12)
        } else if inet_pton(AF_INET6, address, &binary) == 1 {
            family = AF_INET6
        } else {
            throw ServerError("not an IP address or CIDR block: \(text)")
        }
        let bits = binary.count * 8
        if parts.count == 2 {
            // Digits only: `Int` alone also takes a sign, and "-0" would trust every address.
            guard parts[1].utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                  let length = Int(parts[1]), (0...bits).contains(length) else {
                throw ServerError("not an IP address or CIDR block: \(text)")
            }
            prefixLength = length
        } else {
            prefixLength = bits
        }
        network = Self.masked(binary, prefixLength: prefixLength)
    }

    public var description: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        network.withUnsafeBytes { _ = inet_ntop(family, $0.baseAddress, &text, socklen_t(text.count)) }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/\(prefixLength)"
    }

    /// Whether `address` (an IPv4 or IPv6 socket address; never a Unix one) is in the block.
    public func contains(_ address: SocketAddress) -> Bool {
        guard var binary = Self.binary(address) else { return false }
        if family == AF_INET, binary.count == 16 {
            // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is its IPv4 address.
            guard binary[0..<10].allSatisfy({ $0 == 0 }), binary[10] == 0xFF, binary[11] == 0xFF else { return false }
            binary.removeFirst(12)
        }
        guard binary.count == network.count else { return false }
        return Self.masked(binary, prefixLength: prefixLength) == network
    }

    /// Whether any block of `networks` contains `address`.
    public static func any(_ networks: [IPNetwork], contains address: SocketAddress) -> Bool {
        networks.contains { $0.contains(address) }
    }

    private static func binary(_ address: SocketAddress) -> [UInt8]? {
        var binary = [UInt8](repeating: 0, count: 16)
        switch address {
        case .ipv4(let host, _):
            guard inet_pton(AF_INET, host, &binary) == 1 else { return nil }
            return Array(binary[0..<4])
        case .ipv6(let host, _, _):
            guard inet_pton(AF_INET6, host, &binary) == 1 else { return nil }
            return binary
        case .unix:
            return nil
        }
    }

    private static func masked(_ bytes: [UInt8], prefixLength: Int) -> [UInt8] {
        var result = bytes
        for index in result.indices {
            let keep = max(0, min(8, prefixLength - index * 8))
            result[index] &= keep == 8 ? 0xFF : ~(0xFF >> UInt8(keep))
        }
        return result
    }
}
