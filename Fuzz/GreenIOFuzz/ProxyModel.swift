import Glibc

/// An independent, whole-buffer reading of a PROXY protocol header (HAProxy's proxy-protocol.txt,
/// with `ProxyHeader.parse`'s documented limits), written plainly: version 1 as text split on
/// spaces once its CRLF is found, version 2 by offsets into the bytes. What `ProxyHeader.parse`
/// must answer for the same bytes.
///
/// The rules, in the order they decide:
/// - Empty input is incomplete; a first byte other than `P` or CR is a missing header.
/// - v1: the bytes must follow `PROXY ` (else missing). From byte 6 the line runs, in printable
///   ASCII, to a CR LF within the first 107 bytes: the first other byte decides — none in 107
///   bytes is too long (fewer: incomplete); a byte other than CR is malformed; a CR that is the
///   last byte waits for its LF (too long at byte 107); a CR followed by anything but LF is
///   malformed; a CR LF ending past byte 107 is too long. The line is then `UNKNOWN…`, or
///   `TCP4|TCP6 SRC DST SPORT DPORT` split on single spaces, with ports of plain decimal digits
///   (no leading zero) up to 65535 and addresses `inet_pton` takes for the family.
/// - v2: the 12-byte signature (else missing); version 2 and command 0 or 1, and a family and
///   transport byte among 0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32 (a datagram one with PROXY is
///   refused), each checked as soon as its byte is there (else malformed); the 16-bit length
///   at most the limit (else too long); with PROXY, at least the family's address block (12, 36 or
///   216 bytes; none for AF_UNSPEC; else malformed); incomplete until 16 + length bytes. LOCAL is
///   complete whatever the body. PROXY:
///   then TLVs (type, 16-bit length, value) must tile the rest exactly (else malformed); the last
///   ALPN (1) and authority (2) TLVs are kept, an authority only when it is UTF-8.
enum ProxyModel {
    /// A header as the model reads it; addresses in their `SocketAddress` description form.
    struct Header: Equatable {
        var version = 1
        var local = false
        var source: String?
        var destination: String?
        var alpn: [UInt8]?
        var authority: String?
        var length = 0
    }

    enum Verdict: Equatable {
        case incomplete
        /// The error kind, as `ProxyHeaderError.Kind`'s raw value.
        case invalid(String)
        case complete(Header)
    }

    static func verdict(_ bytes: [UInt8], maxV2Length: Int) -> Verdict {
        switch bytes.first {
        case nil: return .incomplete
        case UInt8(ascii: "P"): return version1(bytes)
        case 0x0D: return version2(bytes, maxV2Length: maxV2Length)
        default: return .invalid("missing")
        }
    }

    // MARK: Version 1

    private static func version1(_ bytes: [UInt8]) -> Verdict {
        let magic = Array("PROXY ".utf8)
        if bytes.count < magic.count { return bytes.elementsEqual(magic.prefix(bytes.count)) ? .incomplete : .invalid("missing") }
        guard bytes.starts(with: magic) else { return .invalid("missing") }
        let window = Array(bytes.prefix(107))
        guard let stop = (6..<window.count).first(where: { window[$0] < 0x20 || window[$0] > 0x7E }) else {
            return bytes.count >= 107 ? .invalid("too_long") : .incomplete
        }
        guard window[stop] == 0x0D else { return .invalid("malformed") }
        guard stop + 1 < bytes.count else { return bytes.count >= 107 ? .invalid("too_long") : .incomplete }
        guard bytes[stop + 1] == 0x0A else { return .invalid("malformed") }
        guard stop + 2 <= 107 else { return .invalid("too_long") }

        let line = String(decoding: bytes[6..<stop], as: UTF8.self)
        let fields = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        var header = Header(version: 1, length: stop + 2)
        if fields[0] == "UNKNOWN" { return .complete(header) }
        guard fields[0] == "TCP4" || fields[0] == "TCP6", fields.count == 5,
              let sourcePort = port(fields[3]), let destinationPort = port(fields[4]),
              let source = address(fields[1], v6: fields[0] == "TCP6", port: sourcePort),
              let destination = address(fields[2], v6: fields[0] == "TCP6", port: destinationPort) else {
            return .invalid("malformed")
        }
        header.source = source
        header.destination = destination
        return .complete(header)
    }

    /// Decimal digits only, no leading zero (but "0"), at most 65535.
    private static func port(_ text: String) -> Int? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        if text.count > 1 && text.hasPrefix("0") { return nil }
        guard let value = Int(text), value <= 65535 else { return nil }
        return value
    }

    /// The address `inet_pton` reads from `text`, as `SocketAddress` describes it with `port`.
    private static func address(_ text: String, v6: Bool, port: Int) -> String? {
        var binary = [UInt8](repeating: 0, count: 16)
        guard inet_pton(v6 ? AF_INET6 : AF_INET, text, &binary) == 1 else { return nil }
        return v6 ? ipv6(binary[...], port: port) : ipv4(binary[..<4], port: port)
    }

    // MARK: Version 2

    private static let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    private static func version2(_ bytes: [UInt8], maxV2Length: Int) -> Verdict {
        let n = bytes.count
        for i in 0..<min(12, n) where bytes[i] != signature[i] { return .invalid("missing") }
        if n >= 13 && (bytes[12] / 16 != 2 || bytes[12] % 16 > 1) { return .invalid("malformed") }
        // The specification's family/transport pairs only: UNSPEC, or a known family over TCP or UDP.
        if n >= 14 && ![0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32].contains(bytes[13]) { return .invalid("malformed") }
        let proxyCommand = n >= 13 && bytes[12] % 16 == 1
        if n >= 14 && proxyCommand && bytes[13] % 16 == 2 { return .invalid("malformed") }
        if n < 16 { return .incomplete }
        let bodyLength = Int(bytes[14]) * 256 + Int(bytes[15])
        if bodyLength > maxV2Length { return .invalid("too_long") }
        if proxyCommand && bodyLength < [0, 12, 36, 216][Int(bytes[13] / 16)] { return .invalid("malformed") }
        let total = 16 + bodyLength
        if n < total { return .incomplete }
        var header = Header(version: 2, length: total)
        if bytes[12] % 16 == 0 {
            header.local = true
            return .complete(header)
        }
        let family = bytes[13] / 16
        let transport = bytes[13] % 16
        if transport == 2 { return .invalid("malformed") }
        var blockSize = 0
        if transport == 1 && family != 0 { blockSize = [0, 12, 36, 216][Int(family)] }
        if bodyLength < blockSize { return .invalid("malformed") }
        let a = 16  // The address block's offset.
        if blockSize == 12 {
            header.source = ipv4(bytes[a..<a + 4], port: Int(bytes[a + 8]) * 256 + Int(bytes[a + 9]))
            header.destination = ipv4(bytes[a + 4..<a + 8], port: Int(bytes[a + 10]) * 256 + Int(bytes[a + 11]))
        } else if blockSize == 36 {
            header.source = ipv6(bytes[a..<a + 16], port: Int(bytes[a + 32]) * 256 + Int(bytes[a + 33]))
            header.destination = ipv6(bytes[a + 16..<a + 32], port: Int(bytes[a + 34]) * 256 + Int(bytes[a + 35]))
        } else if blockSize == 216 {
            header.source = unixPath(bytes[a..<a + 108])
            header.destination = unixPath(bytes[a + 108..<a + 216])
        }
        var offset = a + blockSize
        while offset != total {
            guard total - offset >= 3 else { return .invalid("malformed") }
            let valueLength = Int(bytes[offset + 1]) * 256 + Int(bytes[offset + 2])
            let valueEnd = offset + 3 + valueLength
            guard valueEnd <= total else { return .invalid("malformed") }
            let value = Array(bytes[offset + 3..<valueEnd])
            if bytes[offset] == 1 { header.alpn = value }
            if bytes[offset] == 2 {
                // UTF-8 exactly when decoding with replacement gives the same bytes back.
                let decoded = String(decoding: value, as: UTF8.self)
                header.authority = Array(decoded.utf8) == value ? decoded : nil
            }
            offset = valueEnd
        }
        return .complete(header)
    }

    /// "a.b.c.d:port".
    private static func ipv4(_ binary: ArraySlice<UInt8>, port: Int) -> String {
        binary.map(String.init).joined(separator: ".") + ":\(port)"
    }

    /// "[text]:port", the text as `inet_ntop` writes it.
    private static func ipv6(_ binary: ArraySlice<UInt8>, port: Int) -> String {
        var text = [CChar](repeating: 0, count: 64)
        let copy = Array(binary)
        _ = copy.withUnsafeBytes { inet_ntop(AF_INET6, $0.baseAddress, &text, 64) }
        return "[" + String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "]:\(port)"
    }

    /// A path up to its first NUL; an abstract one (leading NUL) as "@" + the name up to the next.
    private static func unixPath(_ raw: ArraySlice<UInt8>) -> String {
        let parts = raw.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        let path: String
        if raw.first != 0 {
            path = String(decoding: parts[0], as: UTF8.self)
        } else {
            let name = parts.count > 1 ? parts[1] : []
            path = name.isEmpty ? "" : "@" + String(decoding: name, as: UTF8.self)
        }
        // `SocketAddress.description` names an empty (unnamed) path "unix:unnamed".
        return path.isEmpty ? "unix:unnamed" : path
    }
}
