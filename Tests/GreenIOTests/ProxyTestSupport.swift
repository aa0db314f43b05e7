import GreenIO
import GreenIOServer
import Testing

// Builders and checks shared by the PROXY protocol suites (ProxyHeader*Tests, ServerProxy*Tests,
// CLIProxyTests).

/// A version 1 header line: `PROXY ` + `fields` joined by single spaces + CRLF.
func proxyV1(_ fields: String) -> [UInt8] {
    bytes("PROXY \(fields)\r\n")
}

/// A version 2 header: the signature, the version/command byte (0x21: v2 PROXY, 0x20: v2 LOCAL),
/// the family/transport byte (0x11: TCP over IPv4), the length (the body's, unless given) and
/// the body (the address block and TLVs).
func proxyV2(command: UInt8 = 0x21, family: UInt8 = 0x11, length: Int? = nil, body: [UInt8] = []) -> [UInt8] {
    let count = length ?? body.count
    return ProxyHeader.v2Signature + [command, family, UInt8(count >> 8), UInt8(count & 0xFF)] + body
}

/// A version 2 address block for TCP over IPv4 or IPv6: source, destination, source port,
/// destination port (4 + 4 + 2 + 2 or 16 + 16 + 2 + 2 bytes).
func proxyV2Addresses(_ source: [UInt8], _ destination: [UInt8], _ sourcePort: Int, _ destinationPort: Int) -> [UInt8] {
    source + destination + [UInt8(sourcePort >> 8), UInt8(sourcePort & 0xFF),
                            UInt8(destinationPort >> 8), UInt8(destinationPort & 0xFF)]
}

/// A version 2 Unix address block: two 108-byte paths, NUL-padded.
func proxyV2UnixAddresses(_ source: [UInt8], _ destination: [UInt8]) -> [UInt8] {
    func padded(_ path: [UInt8]) -> [UInt8] { path + [UInt8](repeating: 0, count: 108 - path.count) }
    return padded(source) + padded(destination)
}

/// One TLV: type, 16-bit length, value.
func proxyTLV(_ type: UInt8, _ value: [UInt8]) -> [UInt8] {
    [type, UInt8(value.count >> 8), UInt8(value.count & 0xFF)] + value
}

/// The v2 header a balancer sends for client 203.0.113.7:40000 → 198.51.100.1:443 (TCP over IPv4).
let proxyV2Client = proxyV2(body: proxyV2Addresses([203, 0, 113, 7], [198, 51, 100, 1], 40000, 443))

/// The v1 header a balancer sends for client 203.0.113.7:40000 → 198.51.100.1:443.
let proxyV1Client = proxyV1("TCP4 203.0.113.7 198.51.100.1 40000 443")

/// The client both `proxyV1Client` and `proxyV2Client` name.
let proxiedClient = SocketAddress.ipv4(host: "203.0.113.7", port: 40000)

extension ProxyHeaderParseResult {
    /// The header of a `.complete` result.
    var header: ProxyHeader? {
        if case .complete(let header) = self { return header }
        return nil
    }

    /// The error kind of an `.invalid` result.
    var errorKind: ProxyHeaderError.Kind? {
        if case .invalid(let error) = self { return error.kind }
        return nil
    }
}

/// Parses `bytes` and requires a complete header.
func parsedHeader(_ bytes: [UInt8], maxV2Length: Int = ProxyHeader.defaultMaxV2Length,
                  sourceLocation: SourceLocation = #_sourceLocation) throws -> ProxyHeader {
    let result = ProxyHeader.parse(bytes, maxV2Length: maxV2Length)
    return try #require(result.header, "\(result)", sourceLocation: sourceLocation)
}

/// Expects every proper prefix of `header` (a complete, valid header) to parse as `.incomplete`,
/// and the whole to parse as complete with its length, with or without bytes behind it.
func expectPrefixesIncomplete(_ header: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
    for count in 0..<header.count {
        let result = ProxyHeader.parse(Array(header[..<count]))
        #expect(result == .incomplete, "prefix of \(count) of \(header.count) bytes: \(result)", sourceLocation: sourceLocation)
    }
    #expect(ProxyHeader.parse(header).header?.length == header.count, sourceLocation: sourceLocation)
    #expect(ProxyHeader.parse(header + bytes("GET / HTTP/1.1\r\n")).header?.length == header.count,
            sourceLocation: sourceLocation)
}
