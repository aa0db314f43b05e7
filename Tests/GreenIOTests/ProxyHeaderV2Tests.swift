import GreenIO
import GreenIOServer
import Testing

/// `ProxyHeader.parse` on version 2 (binary) headers.
@Suite("ProxyHeader v2")
struct ProxyHeaderV2Tests {
    /// 2001:db8::1 and 2001:db8::2 as 16 bytes each.
    static let v6Source: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [1]
    static let v6Destination: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [2]

    @Test("PROXY over TCP/IPv4: both endpoints; the length is 16 + the address block")
    func inet() throws {
        let header = try parsedHeader(proxyV2Client)
        #expect(header.version == .v2)
        #expect(header.command == .proxy)
        #expect(header.source == proxiedClient)
        #expect(header.destination == .ipv4(host: "198.51.100.1", port: 443))
        #expect(header.alpn == nil && header.authority == nil)
        #expect(header.length == 28)
    }

    @Test("PROXY over TCP/IPv6")
    func inet6() throws {
        let block = proxyV2Addresses(Self.v6Source, Self.v6Destination, 65535, 0)
        let header = try parsedHeader(proxyV2(family: 0x21, body: block))
        #expect(header.source == .ipv6(host: "2001:db8::1", port: 65535))
        #expect(header.destination == .ipv6(host: "2001:db8::2", port: 0))
        #expect(header.length == 16 + 36)
    }

    @Test("PROXY over a Unix stream: paths up to their NUL; an abstract address (leading NUL) as @name")
    func unix() throws {
        let block = proxyV2UnixAddresses(bytes("/run/balancer.sock"), [0] + bytes("backend") + [0] + bytes("junk"))
        let header = try parsedHeader(proxyV2(family: 0x31, body: block))
        #expect(header.source == .unix(path: "/run/balancer.sock"))
        #expect(header.destination == .unix(path: "@backend"))
        #expect(header.length == 16 + 216)
        let unnamed = try parsedHeader(proxyV2(family: 0x31, body: proxyV2UnixAddresses([], [0])))
        #expect(unnamed.source == .unix(path: "") && unnamed.destination == .unix(path: ""))
    }

    @Test("LOCAL: the balancer's own connection; any address block is skipped, never read")
    func local() throws {
        let bare = try parsedHeader(proxyV2(command: 0x20, family: 0x00))
        #expect(bare.command == .local && bare.version == .v2)
        #expect(bare.source == nil && bare.destination == nil)
        #expect(bare.length == 16)
        // LOCAL with an address block, even one too short for its family, and bytes that are no TLVs.
        let skipped = try parsedHeader(proxyV2(command: 0x20, family: 0x21, body: [1, 2, 3, 0xFF, 0xFF]) + bytes("data"))
        #expect(skipped.command == .local && skipped.source == nil)
        #expect(skipped.length == 21)
    }

    @Test("AF_UNSPEC under PROXY names no client")
    func unspecified() throws {
        let header = try parsedHeader(proxyV2(family: 0x00))
        #expect(header.command == .proxy)
        #expect(header.source == nil && header.destination == nil)
        let withTLV = try parsedHeader(proxyV2(family: 0x00, body: proxyTLV(0x02, bytes("example.com"))))
        #expect(withTLV.authority == "example.com")
    }

    @Test("TLVs after the addresses: ALPN and authority kept, others (NOOP, SSL, custom, empty) skipped")
    func tlvs() throws {
        let tlvs = proxyTLV(0x04, [0, 0, 0]) + proxyTLV(0x01, bytes("h2")) + proxyTLV(0x20, [0x01, 0, 0, 0, 0])
            + proxyTLV(0xE0, []) + proxyTLV(0x02, bytes("example.com")) + proxyTLV(0x05, bytes("unique-id"))
        let block = proxyV2Addresses([192, 0, 2, 1], [192, 0, 2, 2], 1234, 443)
        let whole = proxyV2(body: block + tlvs)
        let header = try parsedHeader(whole + bytes("\u{16}\u{03}\u{01}"))
        #expect(header.alpn == bytes("h2"))
        #expect(header.authority == "example.com")
        #expect(header.source == .ipv4(host: "192.0.2.1", port: 1234))
        #expect(header.length == whole.count)
        // An authority that is not UTF-8 is dropped; the header stands.
        let latin1 = try parsedHeader(proxyV2(body: block + proxyTLV(0x02, [0x63, 0x61, 0x66, 0xE9])))
        #expect(latin1.authority == nil && latin1.source != nil)
    }

    @Test("every proper prefix of a valid v2 header is incomplete")
    func prefixesAreIncomplete() {
        expectPrefixesIncomplete(proxyV2Client)
        expectPrefixesIncomplete(proxyV2(family: 0x21, body: proxyV2Addresses(Self.v6Source, Self.v6Destination, 1, 2)
                                         + proxyTLV(0x01, bytes("http/1.1"))))
        expectPrefixesIncomplete(proxyV2(family: 0x31, body: proxyV2UnixAddresses(bytes("/a"), bytes("/b"))))
        expectPrefixesIncomplete(proxyV2(command: 0x20, family: 0x00))
    }

    @Test("a bad version, command, family or transport is malformed as soon as its byte arrives")
    func badFixedBytes() {
        let cases: [(byte12: UInt8, byte13: UInt8)] = [(0x11, 0x11), (0x31, 0x11), (0x22, 0x11), (0x2F, 0x11),
                                                       (0x21, 0x41), (0x21, 0xF1), (0x21, 0x13), (0x21, 0x1F)]
        for (byte12, byte13) in cases {
            let header = proxyV2(command: byte12, family: byte13, body: proxyV2Addresses([1, 2, 3, 4], [5, 6, 7, 8], 1, 2))
            #expect(ProxyHeader.parse(header).errorKind == .malformed, "\(byte12) \(byte13)")
            let decisive = byte12 == 0x21 ? 14 : 13
            #expect(ProxyHeader.parse(Array(header.prefix(decisive))).errorKind == .malformed, "\(byte12) \(byte13)")
        }
    }

    @Test("family and transport pairs the specification does not list are malformed at their byte, under LOCAL too")
    func unlistedPairs() {
        for family: UInt8 in [0x01, 0x02, 0x10, 0x20, 0x30, 0x13, 0x40, 0xFF] {
            for command: UInt8 in [0x20, 0x21] {
                let prefix = Array(proxyV2(command: command, family: family).prefix(14))
                #expect(isMalformed(ProxyHeader.parse(prefix)), "family byte \(family), command \(command)")
            }
        }
    }

    @Test("a PROXY header whose length cannot hold its family's addresses is malformed once the length is known")
    func shortBlockEarly() {
        for (family, size) in [(UInt8(0x11), 12), (0x21, 36), (0x31, 216)] {
            let header = proxyV2(family: family, body: [UInt8](repeating: 0, count: size - 1))
            #expect(isMalformed(ProxyHeader.parse(Array(header.prefix(16)))), "family byte \(family)")
        }
    }

    @Test("a datagram transport under PROXY is refused on a stream")
    func datagram() {
        for family: UInt8 in [0x12, 0x22, 0x32] {
            let size = [0x12: 12, 0x22: 36, 0x32: 216][family] ?? 0
            let header = proxyV2(family: family, body: [UInt8](repeating: 1, count: size))
            #expect(ProxyHeader.parse(header).errorKind == .malformed, "family byte \(family)")
        }
    }

    @Test("an address block shorter than its family needs is malformed")
    func shortAddressBlock() {
        #expect(ProxyHeader.parse(proxyV2(family: 0x11, body: [UInt8](repeating: 1, count: 11))).errorKind == .malformed)
        #expect(ProxyHeader.parse(proxyV2(family: 0x21, body: [UInt8](repeating: 1, count: 12))).errorKind == .malformed)
        #expect(ProxyHeader.parse(proxyV2(family: 0x31, body: [UInt8](repeating: 1, count: 215))).errorKind == .malformed)
    }

    @Test("a TLV that runs past the header's length is malformed")
    func tlvOverrun() {
        let block = proxyV2Addresses([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)
        for tlvs: [UInt8] in [[0x01, 0x00, 0x05, 0x68, 0x32], [0x01, 0x00], [0x01], proxyTLV(0x02, bytes("ok")) + [0x04, 0xFF]] {
            #expect(ProxyHeader.parse(proxyV2(body: block + tlvs) + [UInt8](repeating: 0x68, count: 300)).errorKind == .malformed,
                    "\(tlvs)")
        }
    }

    @Test("a length over maxV2Length is too long at the 16th byte; at the limit it is accepted")
    func tooLong() throws {
        let over = proxyV2(length: ProxyHeader.defaultMaxV2Length + 1)
        #expect(ProxyHeader.parse(over).errorKind == .tooLong)
        #expect(ProxyHeader.parse(proxyV2(length: 65535)).errorKind == .tooLong)
        let block = proxyV2Addresses([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)
        #expect(try parsedHeader(proxyV2(body: block), maxV2Length: 12).length == 28)
        #expect(ProxyHeader.parse(proxyV2(body: block + proxyTLV(0x04, [])), maxV2Length: 12).errorKind == .tooLong)
        let big = proxyV2(body: block + proxyTLV(0x04, [UInt8](repeating: 0, count: 60000)))
        #expect(try parsedHeader(big, maxV2Length: 65535).length == big.count)
        #expect(ProxyHeader.parse(big).errorKind == .tooLong)
    }
}

/// Whether `result` is `.invalid` with kind `.malformed`.
private func isMalformed(_ result: ProxyHeaderParseResult) -> Bool {
    if case .invalid(let error) = result { return error.kind == .malformed }
    return false
}
