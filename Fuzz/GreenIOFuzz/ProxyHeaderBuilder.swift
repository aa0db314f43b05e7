import Glibc
import GreenIOServer

/// Builds PROXY headers from fuzz input for `ProxyTarget`: valid ones mostly, with the choices
/// that make near misses (the other family, a leading zero, a port too large, a short address
/// block, a TLV that overruns, a raw length or version byte). The input left over follows the
/// header, as the connection's data would.
enum ProxyHeaderBuilder {
    /// A v1 line. Input: a choice byte — bits 0-1 the protocol (TCP4, TCP6, UNKNOWN, or TCP4 with
    /// IPv6 addresses), bit 2 IPv6 written long (uncompressed, upper case), bit 3 a source port
    /// with a leading zero, bit 4 a destination port over 65535, bit 5 text after UNKNOWN (a
    /// section), bit 6 LF alone instead of CRLF — then the addresses (4 or 16 bytes each) and the
    /// ports (2 bytes each).
    static func v1(_ input: inout FuzzInput) -> [UInt8] {
        let choice = input.byte()
        let protocolChoice = choice & 3
        var line = "PROXY "
        if protocolChoice == 2 {
            line += "UNKNOWN"
            if choice & 0x20 != 0 { line += " " + String(decoding: input.section().map { 0x20 + $0 % 95 }, as: UTF8.self) }
        } else {
            let v6 = protocolChoice != 0
            let long = choice & 4 != 0
            line += protocolChoice == 1 ? "TCP6" : "TCP4"
            let source = address(&input, v6: v6, long: long)
            let destination = address(&input, v6: v6, long: long)
            let sourcePort = Int(input.byte()) << 8 | Int(input.byte())
            let destinationPort = (Int(input.byte()) << 8 | Int(input.byte())) + (choice & 0x10 != 0 ? 65536 : 0)
            line += " \(source) \(destination) \(choice & 8 != 0 ? "0" : "")\(sourcePort) \(destinationPort)"
        }
        line += choice & 0x40 != 0 ? "\n" : "\r\n"
        return Array(line.utf8) + input.rest()
    }

    /// An address in text from 4 or 16 input bytes.
    private static func address(_ input: inout FuzzInput, v6: Bool, long: Bool) -> String {
        var binary = input.bytes(v6 ? 16 : 4)
        binary += [UInt8](repeating: 0, count: (v6 ? 16 : 4) - binary.count)
        guard v6 else { return binary.map(String.init).joined(separator: ".") }
        if long {
            return stride(from: 0, to: 16, by: 2)
                .map { String(Int(binary[$0]) << 8 | Int(binary[$0 + 1]), radix: 16, uppercase: true) }
                .joined(separator: ":")
        }
        var text = [CChar](repeating: 0, count: 64)
        _ = binary.withUnsafeBytes { inet_ntop(AF_INET6, $0.baseAddress, &text, 64) }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The family/transport bytes the builder picks from (a byte 0xF0 and up takes a raw one).
    private static let families: [UInt8] = [0x11, 0x21, 0x31, 0x00, 0x01, 0x10, 0x20, 0x30, 0x02, 0x12, 0x22, 0x32]
    /// The TLV types it picks from: ALPN, authority, NOOP, SSL, unique ID, CRC32C.
    private static let tlvTypes: [UInt8] = [0x01, 0x02, 0x04, 0x20, 0x05, 0x03]

    /// A v2 header. Input: a choice byte — bit 0 LOCAL (else PROXY), bit 1 a short address block,
    /// bits 2-4 the number of TLVs, bit 5 a raw length (2 bytes), bit 6 TLV lengths that may
    /// overrun, bit 7 a raw version/command byte — then the family byte, the address block (two
    /// sections for Unix paths), and per TLV a type byte and a section for its value.
    static func v2(_ input: inout FuzzInput) -> [UInt8] {
        let choice = input.byte()
        let versionCommand: UInt8 = choice & 0x80 != 0 ? input.byte() : (choice & 1 == 0 ? 0x21 : 0x20)
        let familyChoice = input.byte()
        let family = familyChoice >= 0xF0 ? input.byte() : families[Int(familyChoice) % families.count]
        var block: [UInt8]
        switch family >> 4 {
        case 3:
            block = []
            for _ in 0..<2 {
                let path = Array(input.section().prefix(108))
                block += path + [UInt8](repeating: 0, count: 108 - path.count)
            }
        case 1, 2:
            let size = family >> 4 == 1 ? 12 : 36
            block = input.bytes(size)
            block += [UInt8](repeating: 0, count: size - block.count)
        default:
            block = []
        }
        if choice & 2 != 0 { block.removeLast(Int(input.byte()) % (block.count + 1)) }
        var body = block
        for _ in 0..<(Int(choice >> 2) & 7) {
            let typeChoice = input.byte()
            let type = typeChoice >= 0xF0 ? input.byte() : tlvTypes[Int(typeChoice) % tlvTypes.count]
            var value = input.section()
            if typeChoice & 0x10 != 0 { value = value.map { 0x20 + $0 % 95 } }  // printable: a valid authority
            let length = value.count + (choice & 0x40 != 0 && typeChoice & 8 != 0 ? Int(input.byte() % 4) : 0)
            body += [type, UInt8(length >> 8), UInt8(length & 0xFF)] + value
        }
        let length = choice & 0x20 != 0 ? Int(input.byte()) << 8 | Int(input.byte()) : body.count
        return ProxyHeader.v2Signature + [versionCommand, family, UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
            + body + input.rest()
    }
}
