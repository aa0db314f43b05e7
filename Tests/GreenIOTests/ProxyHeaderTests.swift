import GreenIO
import GreenIOServer
import Testing

/// `ProxyHeader.parse` on version 1 headers, and on input that is no PROXY header at all.
@Suite("ProxyHeader v1")
struct ProxyHeaderV1Tests {
    @Test("TCP4: both endpoints, as IPv4 addresses with their ports; the length is the line's")
    func tcp4() throws {
        let line = proxyV1("TCP4 192.0.2.1 198.51.100.2 56324 443")
        let header = try parsedHeader(line)
        #expect(header.version == .v1)
        #expect(header.command == .proxy)
        #expect(header.source == .ipv4(host: "192.0.2.1", port: 56324))
        #expect(header.destination == .ipv4(host: "198.51.100.2", port: 443))
        #expect(header.alpn == nil && header.authority == nil)
        #expect(header.length == line.count)
    }

    @Test("TCP6: addresses normalised (lower case, zeros compressed); ports 0 and 65535 allowed")
    func tcp6() throws {
        let header = try parsedHeader(proxyV1("TCP6 2001:DB8:0:0:0:0:0:1 ::ffff:192.0.2.1 0 65535"))
        #expect(header.source == .ipv6(host: "2001:db8::1", port: 0))
        #expect(header.destination == .ipv6(host: "::ffff:192.0.2.1", port: 65535))
    }

    @Test("UNKNOWN names no client, whatever follows it on the line")
    func unknown() throws {
        for fields in ["UNKNOWN", "UNKNOWN ffff::1 ffff::2 65535 65535", "UNKNOWN anything at all"] {
            let line = proxyV1(fields)
            let header = try parsedHeader(line)
            #expect(header.command == .proxy && header.version == .v1)
            #expect(header.source == nil && header.destination == nil, "\(fields)")
            #expect(header.length == line.count)
        }
    }

    @Test("the bytes behind the CRLF are not the header's: the length stops at the LF")
    func trailingBytes() throws {
        let line = proxyV1("TCP4 10.0.0.1 10.0.0.2 1 2")
        let header = try parsedHeader(line + bytes("PROXY TCP4 10.9.9.9 10.9.9.9 9 9\r\nGET /\r\n"))
        #expect(header.length == line.count)
        #expect(header.source == .ipv4(host: "10.0.0.1", port: 1))
    }

    @Test("every proper prefix of a valid v1 header is incomplete")
    func prefixesAreIncomplete() {
        expectPrefixesIncomplete(proxyV1("TCP4 192.0.2.1 198.51.100.2 56324 443"))
        expectPrefixesIncomplete(proxyV1("TCP6 2001:db8::1 2001:db8::2 1 65535"))
        expectPrefixesIncomplete(proxyV1("UNKNOWN"))
    }

    @Test("malformed v1 lines", arguments: [
        "TCP4 192.0.2.1 198.51.100.2 080 443",  // a leading zero
        "TCP4 192.0.2.1 198.51.100.2 65536 443",  // over 65535
        "TCP4 192.0.2.1 198.51.100.2 123456 443",
        "TCP4 192.0.2.1 198.51.100.2 +80 443",  // a sign
        "TCP4 192.0.2.1 198.51.100.2 -1 443",
        "TCP4 192.0.2.1 198.51.100.2 8O 443",
        "TCP4 ::1 ::1 80 443",  // addresses of the other family
        "TCP6 192.0.2.1 198.51.100.2 80 443",
        "TCP4 192.0.2 198.51.100.2 80 443",
        "TCP4 256.0.2.1 198.51.100.2 80 443",
        "TCP4 localhost 198.51.100.2 80 443",
        "TCP4  192.0.2.1 198.51.100.2 80 443",  // a double space
        "TCP4 192.0.2.1 198.51.100.2  80 443",
        "TCP4 192.0.2.1 198.51.100.2 80 443 ",  // a trailing space
        "TCP4 192.0.2.1 198.51.100.2 80",  // a field missing
        "TCP4 192.0.2.1 198.51.100.2 80 443 1",  // one too many
        "TCP5 192.0.2.1 198.51.100.2 80 443",
        "tcp4 192.0.2.1 198.51.100.2 80 443",
        "UNKNOWNX",
        "",
    ])
    func malformed(fields: String) {
        #expect(ProxyHeader.parse(proxyV1(fields)).errorKind == .malformed, "\(fields.debugDescription)")
    }

    @Test("a line ending in LF alone, a CR not followed by LF, or a byte outside printable ASCII is malformed at once")
    func malformedBytes() {
        let start = bytes("PROXY TCP4 192.0.2.1")
        for bad: [UInt8] in [[0x0A], [0x0D, 0x20], [0x0D, 0x0D], [0x09], [0x00], [0x7F], [0x80], [0xC3, 0xA9]] {
            // No continuation can repair it, so the verdict needs no more bytes.
            #expect(ProxyHeader.parse(start + bad).errorKind == .malformed, "\(bad)")
            #expect(ProxyHeader.parse(start + bad + bytes(" 198.51.100.2 80 443\r\n")).errorKind == .malformed, "\(bad)")
        }
        #expect(ProxyHeader.parse(bytes("PROXY TCP4 192.0.2.1 198.51.100.2 80 443\n")).errorKind == .malformed)
        #expect(ProxyHeader.parse(start + [0x0D]) == .incomplete, "the LF may still come")
    }

    @Test("107 bytes is the longest v1 header; a longer line, or 107 bytes without CRLF, is too long")
    func tooLong() throws {
        let prefix = "UNKNOWN "
        let longest = proxyV1(prefix + String(repeating: "f", count: 107 - 8 - prefix.count))
        #expect(longest.count == 107)
        #expect(try parsedHeader(longest).length == 107)
        let over = proxyV1(prefix + String(repeating: "f", count: 108 - 8 - prefix.count))
        #expect(over.count == 108)
        #expect(ProxyHeader.parse(over).errorKind == .tooLong, "CRLF ending past byte 107")
        #expect(ProxyHeader.parse(Array(over.dropLast())).errorKind == .tooLong, "the CR at byte 107: no room for the LF")
        let endless = bytes("PROXY UNKNOWN " + String(repeating: "x", count: 94))
        #expect(endless.count == 108)
        #expect(ProxyHeader.parse(endless).errorKind == .tooLong)
        #expect(ProxyHeader.parse(Array(endless.prefix(107))).errorKind == .tooLong)
        #expect(ProxyHeader.parse(endless + bytes("\r\n")).errorKind == .tooLong)
    }

    @Test("input that starts with neither signature is missing its header at the first byte that differs")
    func missing() {
        let cases: [[UInt8]] = [
            bytes("GET / HTTP/1.1\r\n"), [0x16, 0x03, 0x01, 0x02, 0x00], bytes("*1\r\n$4\r\nPING\r\n"),
            bytes("PROXX TCP4"), bytes("PROXY\r\n"), bytes("proxy TCP4 "), bytes("Q"), [0x00],
            Array(ProxyHeader.v2Signature.prefix(5)) + [0x00], [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0B],
        ]
        for input in cases {
            #expect(ProxyHeader.parse(input).errorKind == .missing, "\(input)")
        }
        for input in [[], bytes("P"), bytes("PROXY"), bytes("PROXY "), [0x0D], [0x0D, 0x0A]] {
            #expect(ProxyHeader.parse(input) == .incomplete, "\(input)")
        }
    }

    @Test("parse over a raw buffer answers as over an array")
    func rawBuffer() {
        let line = proxyV1("TCP4 192.0.2.1 198.51.100.2 56324 443") + bytes("data")
        let raw = line.withUnsafeBytes { ProxyHeader.parse($0) }
        #expect(raw == ProxyHeader.parse(line))
        #expect(raw.header?.length == line.count - 4)
    }
}
