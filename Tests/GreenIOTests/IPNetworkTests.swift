import Glibc
import GreenIO
import GreenIOServer
import Testing

/// `IPNetwork`: CIDR parsing and membership, as the PROXY protocol's trusted sources use them.
@Suite("IPNetwork")
struct IPNetworkTests {
    @Test("parses blocks and single addresses; host bits are cleared", arguments: [
        ("10.0.0.0/8", AF_INET, 8, "10.0.0.0/8"),
        ("10.1.2.3/8", AF_INET, 8, "10.0.0.0/8"),
        ("192.168.7.200/27", AF_INET, 27, "192.168.7.192/27"),
        ("127.0.0.1", AF_INET, 32, "127.0.0.1/32"),
        ("0.0.0.0/0", AF_INET, 0, "0.0.0.0/0"),
        ("255.255.255.255/1", AF_INET, 1, "128.0.0.0/1"),
        ("::1", AF_INET6, 128, "::1/128"),
        ("2001:DB8::/32", AF_INET6, 32, "2001:db8::/32"),
        ("2001:db8:ffff::1/33", AF_INET6, 33, "2001:db8:8000::/33"),
        ("::/0", AF_INET6, 0, "::/0"),
        ("10.0.0.0/08", AF_INET, 8, "10.0.0.0/8"),
    ])
    func parses(text: String, family: Int32, prefixLength: Int, description: String) throws {
        let network = try IPNetwork(text)
        #expect(network.family == family)
        #expect(network.prefixLength == prefixLength)
        #expect(network.description == description)
        #expect(try IPNetwork(description) == network)
    }

    @Test("refuses what is not a numeric address with a prefix length in range", arguments: [
        "", "/8", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/-0",
        "10.0.0.0/ 8", "10.0.0.0/8/8", "10.0.0.0/8a", "10.0.0/8", "256.0.0.0/8", "localhost", "10.0.0.0 /8",
        "fe80::1%lo/64", "10.0.0.0/２", "10.0.0.0/99999999999999999999",
    ])
    func refuses(text: String) {
        let error = #expect(throws: ServerError.self) { try IPNetwork(text) }
        #expect(error?.description.contains("not an IP address or CIDR block") == true, "\(String(describing: error))")
    }

    @Test("contains: the block's addresses, whatever the port; nothing of the other family, nor Unix paths")
    func contains() throws {
        let block = try IPNetwork("10.0.0.0/8")
        #expect(block.contains(.ipv4(host: "10.0.0.0", port: 0)))
        #expect(block.contains(.ipv4(host: "10.255.255.255", port: 65535)))
        #expect(!block.contains(.ipv4(host: "11.0.0.0", port: 1)))
        #expect(!block.contains(.ipv4(host: "9.255.255.255", port: 1)))
        #expect(!block.contains(.ipv6(host: "::1", port: 1)))
        #expect(!block.contains(.ipv6(host: "a00::1", port: 1)), "10.x in the first bytes of an IPv6 address")
        #expect(!block.contains(.unix(path: "/tmp/socket")))

        let odd = try IPNetwork("192.168.7.192/27")
        #expect(odd.contains(.ipv4(host: "192.168.7.223", port: 1)))
        #expect(!odd.contains(.ipv4(host: "192.168.7.224", port: 1)))
        #expect(!odd.contains(.ipv4(host: "192.168.7.191", port: 1)))

        let v6 = try IPNetwork("2001:db8::/32")
        #expect(v6.contains(.ipv6(host: "2001:db8:ffff::1", port: 1)))
        #expect(!v6.contains(.ipv6(host: "2001:db9::1", port: 1)))
        #expect(!v6.contains(.ipv4(host: "32.1.13.184", port: 1)))
        #expect(try IPNetwork("::1").contains(.ipv6(host: "::1", port: 9)))
        #expect(try !IPNetwork("::1").contains(.ipv6(host: "::2", port: 9)))
    }

    @Test("an IPv4 block contains the IPv4-mapped IPv6 form of its addresses, and no other IPv6 address")
    func mappedAddresses() throws {
        let loopback = try IPNetwork("127.0.0.0/8")
        #expect(loopback.contains(.ipv6(host: "::ffff:127.0.0.1", port: 5)))
        #expect(loopback.contains(.ipv6(host: "::FFFF:7f00:2", port: 5)))
        #expect(!loopback.contains(.ipv6(host: "::ffff:128.0.0.1", port: 5)))
        #expect(!loopback.contains(.ipv6(host: "::127.0.0.1", port: 5)), "IPv4-compatible, not mapped")
        #expect(!loopback.contains(.ipv6(host: "::1", port: 5)))
        #expect(!loopback.contains(.ipv6(host: "64:ff9b::7f00:1", port: 5)), "NAT64, not mapped")
    }

    @Test("/0 contains every address of its family (IPv4 also the mapped ones), and only those")
    func zeroPrefix() throws {
        let all4 = try IPNetwork("0.0.0.0/0")
        #expect(all4.contains(.ipv4(host: "255.255.255.255", port: 1)))
        #expect(all4.contains(.ipv4(host: "0.0.0.0", port: 1)))
        #expect(all4.contains(.ipv6(host: "::ffff:1.2.3.4", port: 1)))
        #expect(!all4.contains(.ipv6(host: "2001:db8::1", port: 1)))
        let all6 = try IPNetwork("::/0")
        #expect(all6.contains(.ipv6(host: "ffff::1", port: 1)))
        #expect(all6.contains(.ipv6(host: "::ffff:1.2.3.4", port: 1)))
        #expect(!all6.contains(.ipv4(host: "1.2.3.4", port: 1)))
    }

    @Test("any: true when one block of the list contains the address")
    func anyOfSeveral() throws {
        let trusted = try ["10.0.0.0/8", "192.0.2.7", "2001:db8::/48"].map(IPNetwork.init)
        #expect(IPNetwork.any(trusted, contains: .ipv4(host: "192.0.2.7", port: 1)))
        #expect(!IPNetwork.any(trusted, contains: .ipv4(host: "192.0.2.8", port: 1)))
        #expect(IPNetwork.any(trusted, contains: .ipv6(host: "2001:db8:0:1::", port: 1)))
        #expect(!IPNetwork.any(trusted, contains: .ipv6(host: "2001:db8:1::", port: 1)))
        #expect(!IPNetwork.any([], contains: .ipv4(host: "10.0.0.1", port: 1)))
    }
}
