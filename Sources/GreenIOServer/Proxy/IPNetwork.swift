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
    /// The network address, host bits cleared, as a 128-bit number (an IPv4 address in the low
    /// 32 bits).
    private let network: (high: UInt64, low: UInt64)
    /// The prefix's bits set, in the same layout.
    private let mask: (high: UInt64, low: UInt64)

    /// Parses `ADDRESS` or `ADDRESS/PREFIX`; host bits after the prefix are ignored
    /// (`10.1.2.3/8` is `10.0.0.0/8`).
    /// - Throws: `ServerError` naming the text when it is not a numeric address with an optional
    ///   prefix length in range.
    public init(_ text: String) throws {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let (family, address) = Self.parse(String(parts[0])) else {
            throw ServerError("not an IP address or CIDR block: \(text)")
        }
        let bits = family == AF_INET ? 32 : 128
        var prefixLength = bits
        if parts.count == 2 {
            // Digits only: Int("+8") and Int("-0") parse, and "/-0" must not mean "/0" (every address).
            guard !parts[1].isEmpty, parts[1].allSatisfy({ ("0"..."9").contains($0) }), let length = Int(parts[1]),
                  (0...bits).contains(length) else {
                throw ServerError("not an IP address or CIDR block: \(text)")
            }
            prefixLength = length
        }
        self.family = family
        self.prefixLength = prefixLength
        let mask = Self.mask(prefixLength: prefixLength, bits: bits)
        self.mask = mask
        network = (address.high & mask.high, address.low & mask.low)
    }

    /// CIDR notation, with the address masked to the prefix: "10.0.0.0/8", "2001:db8::/32".
    public var description: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<8 {
            bytes[index] = UInt8(truncatingIfNeeded: network.high >> (56 - 8 * UInt64(index)))
            bytes[8 + index] = UInt8(truncatingIfNeeded: network.low >> (56 - 8 * UInt64(index)))
        }
        let offset = family == AF_INET ? 12 : 0
        bytes.withUnsafeBytes { raw in
            if let base = raw.baseAddress { _ = inet_ntop(family, base + offset, &text, socklen_t(text.count)) }
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/\(prefixLength)"
    }

    /// Whether two blocks are the same: family, prefix length and masked address.
    public static func == (left: IPNetwork, right: IPNetwork) -> Bool {
        left.family == right.family && left.prefixLength == right.prefixLength
            && left.network.high == right.network.high && left.network.low == right.network.low
    }

    /// Hashes what `==` compares.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(family)
        hasher.combine(prefixLength)
        hasher.combine(network.high)
        hasher.combine(network.low)
    }

    /// Whether `address` (an IPv4 or IPv6 socket address; never a Unix one) is in the block.
    public func contains(_ address: SocketAddress) -> Bool {
        let host: String
        switch address {
        case .ipv4(let text, _), .ipv6(let text, _, _): host = text
        case .unix: return false
        }
        guard var (addressFamily, value) = Self.parse(host) else { return false }
        if family == AF_INET, addressFamily == AF_INET6 {
            // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is its IPv4 address.
            guard value.high == 0, value.low >> 32 == 0xFFFF else { return false }
            (addressFamily, value) = (AF_INET, (0, value.low & 0xFFFF_FFFF))
        }
        return addressFamily == family && value.high & mask.high == network.high && value.low & mask.low == network.low
    }

    /// Whether any block of `networks` contains `address`.
    public static func any(_ networks: [IPNetwork], contains address: SocketAddress) -> Bool {
        networks.contains { $0.contains(address) }
    }

    /// A numeric IPv4 or IPv6 address as a family and a 128-bit number; nil for anything else.
    private static func parse(_ host: String) -> (Int32, (high: UInt64, low: UInt64))? {
        withUnsafeTemporaryAllocation(byteCount: 16, alignment: 8) { raw -> (Int32, (high: UInt64, low: UInt64))? in
            let family: Int32
            if inet_pton(AF_INET, host, raw.baseAddress) == 1 {
                family = AF_INET
                return (family, (0, UInt64(raw[0]) << 24 | UInt64(raw[1]) << 16 | UInt64(raw[2]) << 8 | UInt64(raw[3])))
            }
            guard inet_pton(AF_INET6, host, raw.baseAddress) == 1 else { return nil }
            var high: UInt64 = 0
            var low: UInt64 = 0
            for index in 0..<8 {
                high = high << 8 | UInt64(raw[index])
                low = low << 8 | UInt64(raw[8 + index])
            }
            return (AF_INET6, (high, low))
        }
    }

    /// The first `prefixLength` of the address's `bits` set, in the 128-bit layout.
    private static func mask(prefixLength: Int, bits: Int) -> (high: UInt64, low: UInt64) {
        // Bits counted from the top of the 128-bit number: an IPv4 address's top is bit 96.
        let start = 128 - bits
        func ones(from: Int, count: Int) -> UInt64 {  // `count` bits set from bit `from` (0 = top) of a word.
            guard count > 0 else { return 0 }
            let all: UInt64 = count >= 64 ? ~0 : ((1 << UInt64(count)) - 1) << UInt64(64 - count)
            return all >> UInt64(from)
        }
        let highCount = max(0, min(64, start + prefixLength) - start)
        let lowStart = max(0, start - 64)
        let lowCount = max(0, start + prefixLength - max(64, start))
        return (start < 64 ? ones(from: start, count: highCount) : 0, ones(from: lowStart, count: lowCount))
    }
}
