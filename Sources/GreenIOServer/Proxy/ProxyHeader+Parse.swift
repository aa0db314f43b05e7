import GreenIO
import Glibc

extension ProxyHeader {
    /// The default `maxV2Length`: the most bytes a version 2 header may carry after its fixed 16
    /// (addresses and TLVs). Balancers send tens to a few hundred.
    public static let defaultMaxV2Length = 4096

    /// Parses the PROXY header at the start of `bytes`: a pure function of the bytes, so a reader
    /// can call it again with more of them. It answers `.incomplete` for any prefix of a valid
    /// header, and `.invalid` once the bytes seen show it is not one: a connection that starts with
    /// neither signature at its first byte, a v2 field at its byte (the address block's size with
    /// the length), a v1 line at its CRLF (or at 107 bytes without one).
    ///
    /// Version 1: `PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n` (numeric addresses of the named
    /// family, ports 0...65535 without leading zeros, single spaces) or `PROXY UNKNOWN…\r\n`, at
    /// most 107 bytes. Version 2: the 12-byte signature, version 2 with command LOCAL or PROXY,
    /// `AF_UNSPEC` (unspecified transport) or `AF_INET`, `AF_INET6` or `AF_UNIX` over a stream
    /// (a datagram transport is refused with PROXY, any other pair always), a length of at most `maxV2Length`, an
    /// address block as long as the family needs, and well-formed TLVs (ALPN and authority are
    /// kept, the rest skipped).
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxV2Length: Int = defaultMaxV2Length) -> ProxyHeaderParseResult {
        guard let first = bytes.first else { return .incomplete }
        switch first {
        case v1Prefix[0]: return parseV1(bytes)
        case v2Signature[0]: return parseV2(bytes, maxLength: maxV2Length)
        default: return .invalid(ProxyHeaderError(.missing, "no PROXY header"))
        }
    }

    /// `parse` over an array.
    public static func parse(_ bytes: [UInt8], maxV2Length: Int = defaultMaxV2Length) -> ProxyHeaderParseResult {
        bytes.withUnsafeBytes { parse($0, maxV2Length: maxV2Length) }
    }

    // MARK: Version 1

    private static func parseV1(_ bytes: UnsafeRawBufferPointer) -> ProxyHeaderParseResult {
        let prefixCount = min(bytes.count, v1Prefix.count)
        for index in 0..<prefixCount where bytes[index] != v1Prefix[index] {
            return .invalid(ProxyHeaderError(.missing, "no PROXY header"))
        }
        // Find the CRLF; every byte before it must be printable ASCII.
        var end: Int?
        let limit = min(bytes.count, maxV1Length)
        var index = v1Prefix.count
        while index < limit {
            let byte = bytes[index]
            if byte == 0x0D {
                if index + 1 == bytes.count { break }  // The LF may be on its way.
                guard bytes[index + 1] == 0x0A else { return .invalid(ProxyHeaderError(.malformed, "CR without LF")) }
                end = index
                break
            }
            guard (0x20...0x7E).contains(byte) else {
                return .invalid(ProxyHeaderError(.malformed, "a byte outside printable ASCII"))
            }
            index += 1
        }
        guard let end else {
            if bytes.count >= maxV1Length { return .invalid(ProxyHeaderError(.tooLong, "v1 header over 107 bytes")) }
            return .incomplete
        }
        guard end + 2 <= maxV1Length else { return .invalid(ProxyHeaderError(.tooLong, "v1 header over 107 bytes")) }
        let line = UnsafeRawBufferPointer(rebasing: bytes[v1Prefix.count..<end])
        let length = end + 2
        // The fields, split at single spaces by hand (no arrays: this runs once per connection).
        var fields: (Slice<UnsafeRawBufferPointer>, Slice<UnsafeRawBufferPointer>, Slice<UnsafeRawBufferPointer>,
                     Slice<UnsafeRawBufferPointer>, Slice<UnsafeRawBufferPointer>) =
            (line[0..<0], line[0..<0], line[0..<0], line[0..<0], line[0..<0])
        var fieldCount = 0
        var fieldStart = 0
        for position in 0...line.count where position == line.count || line[position] == 0x20 {
            let field = line[fieldStart..<position]
            switch fieldCount {
            case 0: fields.0 = field
            case 1: fields.1 = field
            case 2: fields.2 = field
            case 3: fields.3 = field
            case 4: fields.4 = field
            default: break
            }
            fieldCount += 1
            fieldStart = position + 1
            if fieldCount == 1 && equals(fields.0, "UNKNOWN") {
                return .complete(ProxyHeader(version: .v1, command: .proxy, source: nil, destination: nil, length: length))
            }
        }
        let family: Int32
        if equals(fields.0, "TCP4") {
            family = AF_INET
        } else if equals(fields.0, "TCP6") {
            family = AF_INET6
        } else {
            return .invalid(ProxyHeaderError(.malformed, "v1 protocol is not TCP4, TCP6 or UNKNOWN"))
        }
        guard fieldCount == 5 else {
            return .invalid(ProxyHeaderError(.malformed, "v1 needs four fields after the protocol, one space apart"))
        }
        guard let sourcePort = v1Port(fields.3), let destinationPort = v1Port(fields.4) else {
            return .invalid(ProxyHeaderError(.malformed, "a v1 port is not a decimal in 0...65535"))
        }
        guard let source = v1Address(fields.1, family: family, port: sourcePort),
              let destination = v1Address(fields.2, family: family, port: destinationPort) else {
            return .invalid(ProxyHeaderError(.malformed, "a v1 address is not a numeric address of its family"))
        }
        return .complete(ProxyHeader(version: .v1, command: .proxy, source: source, destination: destination,
                                     length: length))
    }

    /// Whether `field` is the ASCII text `text`.
    private static func equals(_ field: Slice<UnsafeRawBufferPointer>, _ text: StaticString) -> Bool {
        field.count == text.utf8CodeUnitCount
            && field.elementsEqual(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// A decimal port, 0...65535, with no sign and no leading zero.
    private static func v1Port(_ digits: Slice<UnsafeRawBufferPointer>) -> Int? {
        guard (1...5).contains(digits.count), digits.count == 1 || digits.first != UInt8(ascii: "0") else { return nil }
        var value = 0
        for digit in digits {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(digit) else { return nil }
            value = value * 10 + Int(digit - UInt8(ascii: "0"))
        }
        return value <= 65535 ? value : nil
    }

    /// A numeric address of `family`, as `inet_pton` reads it. IPv4 text that `inet_pton` accepts
    /// is already canonical (four decimals, no leading zeros) and is kept; IPv6 text is
    /// normalised by `inet_ntop` (`2001:DB8:0::1` is `2001:db8::1`).
    private static func v1Address(_ text: Slice<UnsafeRawBufferPointer>, family: Int32, port: Int) -> SocketAddress? {
        guard !text.isEmpty, text.count < 64 else { return nil }
        return withUnsafeTemporaryAllocation(byteCount: 64 + 16, alignment: 8) { scratch -> SocketAddress? in
            let binary = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<16])
            let cString = UnsafeMutableRawBufferPointer(rebasing: scratch[16...])
            cString.copyMemory(from: UnsafeRawBufferPointer(rebasing: text))
            cString[text.count] = 0
            guard inet_pton(family, cString.baseAddress, binary.baseAddress) == 1 else { return nil }
            if family == AF_INET { return .ipv4(host: String(decoding: text, as: UTF8.self), port: port) }
            return socketAddress(family: family, binary: UnsafeRawBufferPointer(binary), port: port)
        }
    }

    // MARK: Version 2

    private static func parseV2(_ bytes: UnsafeRawBufferPointer, maxLength: Int) -> ProxyHeaderParseResult {
        let signatureCount = min(bytes.count, v2Signature.count)
        for index in 0..<signatureCount where bytes[index] != v2Signature[index] {
            return .invalid(ProxyHeaderError(.missing, "no PROXY header"))
        }
        if bytes.count > 12 {
            guard bytes[12] >> 4 == 2 else { return .invalid(ProxyHeaderError(.malformed, "v2 version is not 2")) }
            guard bytes[12] & 0x0F <= 1 else { return .invalid(ProxyHeaderError(.malformed, "v2 command is not LOCAL or PROXY")) }
        }
        let isProxy = bytes.count > 12 && bytes[12] & 0x0F == 1
        if bytes.count > 13 {
            // The specification's pairs only: AF_UNSPEC with an unspecified transport, or a known
            // family over a stream or datagram; receivers must reject the rest.
            switch bytes[13] {
            case 0x00, 0x11, 0x21, 0x31: break
            case 0x12, 0x22, 0x32:
                guard !isProxy else { return .invalid(ProxyHeaderError(.malformed, "v2 datagram transport on a stream")) }
            default:
                return .invalid(ProxyHeaderError(.malformed, "v2 family and transport not a valid pair"))
            }
        }
        guard bytes.count >= v2FixedLength else { return .incomplete }
        let bodyLength = Int(bytes[14]) << 8 | Int(bytes[15])
        guard bodyLength <= maxLength else {
            return .invalid(ProxyHeaderError(.tooLong, "v2 length over the limit of \(maxLength)"))
        }
        // A PROXY header's address block must fit in its length: known as soon as the length is.
        guard !isProxy || bodyLength >= v2AddressLengths[Int(bytes[13] >> 4)] else {
            return .invalid(ProxyHeaderError(.malformed, "v2 address block too short"))
        }
        let length = v2FixedLength + bodyLength
        guard bytes.count >= length else { return .incomplete }
        if bytes[12] & 0x0F == 0 {
            // LOCAL: the balancer's own connection; the address block is ignored.
            return .complete(ProxyHeader(version: .v2, command: .local, source: nil, destination: nil, length: length))
        }
        // PROXY with a pair checked above (0x00, 0x11, 0x21 or 0x31) and room for its address block.
        let body = UnsafeRawBufferPointer(rebasing: bytes[v2FixedLength..<length])
        let addressLength = v2AddressLengths[Int(bytes[13] >> 4)]
        var source: SocketAddress?
        var destination: SocketAddress?
        switch bytes[13] >> 4 {
        case 1:
            source = socketAddress(family: AF_INET, binary: UnsafeRawBufferPointer(rebasing: body[0..<4]), port: port(body, at: 8))
            destination = socketAddress(family: AF_INET, binary: UnsafeRawBufferPointer(rebasing: body[4..<8]), port: port(body, at: 10))
        case 2:
            source = socketAddress(family: AF_INET6, binary: UnsafeRawBufferPointer(rebasing: body[0..<16]), port: port(body, at: 32))
            destination = socketAddress(family: AF_INET6, binary: UnsafeRawBufferPointer(rebasing: body[16..<32]), port: port(body, at: 34))
        case 3:
            source = .unix(path: unixPath(UnsafeRawBufferPointer(rebasing: body[0..<108])))
            destination = .unix(path: unixPath(UnsafeRawBufferPointer(rebasing: body[108..<216])))
        default:
            break  // AF_UNSPEC: the connection's own endpoints apply.
        }
        guard let (alpn, authority) = v2TLVs(UnsafeRawBufferPointer(rebasing: body[addressLength...])) else {
            return .invalid(ProxyHeaderError(.malformed, "v2 TLV overruns the header"))
        }
        return .complete(ProxyHeader(version: .v2, command: .proxy, source: source, destination: destination,
                                     alpn: alpn, authority: authority, length: length))
    }

    /// The address block's length by v2 family: AF_UNSPEC, AF_INET, AF_INET6, AF_UNIX.
    private static let v2AddressLengths = [0, 12, 36, 216]

    /// The ALPN and authority TLVs, or nil when a TLV's length runs past the end.
    private static func v2TLVs(_ tlvs: UnsafeRawBufferPointer) -> (alpn: [UInt8]?, authority: String?)? {
        var alpn: [UInt8]?
        var authority: String?
        var index = 0
        while index < tlvs.count {
            guard tlvs.count - index >= 3 else { return nil }
            let type = tlvs[index]
            let valueLength = Int(tlvs[index + 1]) << 8 | Int(tlvs[index + 2])
            let start = index + 3
            guard tlvs.count - start >= valueLength else { return nil }
            let value = UnsafeRawBufferPointer(rebasing: tlvs[start..<start + valueLength])
            switch type {
            case 0x01: alpn = Array(value)
            case 0x02: authority = String(validating: value, as: UTF8.self)
            default: break
            }
            index = start + valueLength
        }
        return (alpn, authority)
    }

    private static func port(_ body: UnsafeRawBufferPointer, at offset: Int) -> Int {
        Int(body[offset]) << 8 | Int(body[offset + 1])
    }

    /// A v2 Unix path: the bytes up to the first NUL; an abstract address (a leading NUL) is
    /// written with a leading "@", as `ss` shows it.
    private static func unixPath(_ raw: UnsafeRawBufferPointer) -> String {
        if raw.first == 0 {
            let rest = raw.dropFirst().prefix { $0 != 0 }
            return rest.isEmpty ? "" : "@" + String(decoding: rest, as: UTF8.self)
        }
        return String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// The socket address for a binary IPv4 (4 bytes) or IPv6 (16 bytes) address.
    static func socketAddress(family: Int32, binary: UnsafeRawBufferPointer, port: Int) -> SocketAddress {
        let host = SocketAddress.numericHost(family: family, bytes: binary)
        return family == AF_INET ? .ipv4(host: host, port: port) : .ipv6(host: host, port: port)
    }
}
