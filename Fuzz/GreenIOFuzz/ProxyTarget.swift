import Glibc
import GreenIO
import GreenIOServer

/// Fuzzes `ProxyHeader.parse` against `ProxyModel`, over the whole input and its prefixes.
///
/// Input: a mode byte, a limit byte (`maxV2Length`: 0x80 and up the default, else 4 × the byte),
/// three mutation bytes when the mode's high bit is set, then the material: raw bytes (mode % 3
/// == 0), or what a builder makes a header of — v1 (1) or v2 (2) — so that valid headers, and
/// near misses, are frequent. The mutation (set, truncate, insert or delete one byte) is applied
/// to the built bytes.
///
/// Invariants: the verdict — incomplete, invalid with its kind, or complete with its version,
/// command, length, addresses, ALPN and authority — is the model's, for the input and for each
/// prefix checked (every prefix of a short input; of a long one the first 128, a sample, and
/// those around the header's end). Prefix by prefix the verdicts run incomplete…, then stay
/// complete with one header (first complete exactly at its length) or stay invalid. Each parse
/// reads a buffer of exactly its bytes, so that a read past the end is caught by the sanitizer.
struct ProxyTarget {
    let bytes: [UInt8]
    let maxV2Length: Int

    init(_ input: inout FuzzInput) {
        let mode = input.byte()
        let limit = input.byte()
        maxV2Length = limit >= 0x80 ? ProxyHeader.defaultMaxV2Length : Int(limit) * 4
        let mutation = mode & 0x80 != 0 ? input.bytes(3) : []
        var built: [UInt8]
        switch mode % 3 {
        case 1: built = ProxyHeaderBuilder.v1(&input)
        case 2: built = ProxyHeaderBuilder.v2(&input)
        default: built = input.rest()
        }
        if mutation.count == 3 { Self.mutate(&built, operation: mutation[0], position: Int(mutation[1]), value: mutation[2]) }
        bytes = built
    }

    private static func mutate(_ bytes: inout [UInt8], operation: UInt8, position: Int, value: UInt8) {
        switch operation % 4 {
        case 0: if !bytes.isEmpty { bytes[position % bytes.count] = value }
        case 1: bytes.removeLast(bytes.count - position % (bytes.count + 1))
        case 2: bytes.insert(value, at: position % (bytes.count + 1))
        default: if !bytes.isEmpty { bytes.remove(at: position % bytes.count) }
        }
    }

    func run() {
        let whole = parse(bytes.count)
        let model = ProxyModel.verdict(bytes, maxV2Length: maxV2Length)
        compare(whole, model, count: bytes.count)

        var counts = Set(0...min(bytes.count, 128)).union([bytes.count])
        if bytes.count > 128 {
            counts.formUnion(stride(from: 129, to: bytes.count, by: 37))
            if case .complete(let header) = whole {
                counts.formUnion([header.length - 1, header.length, header.length + 1].filter { $0 <= bytes.count })
            }
        }
        var previous: ProxyHeaderParseResult = .incomplete
        for count in counts.sorted() {
            let result = count == bytes.count ? whole : parse(count)
            compare(result, ProxyModel.verdict(Array(bytes[..<count]), maxV2Length: maxV2Length), count: count)
            switch (previous, result) {
            case (.incomplete, .complete(let header)):
                check(header.length == count || !counts.contains(count - 1),
                      "first complete at \(count) bytes for a header of \(header.length)")
                check(header.length <= count, "complete at \(count) bytes with a length of \(header.length)")
            case (.incomplete, _), (.invalid, .invalid):
                break
            case (.complete(let before), .complete(let after)):
                check(before == after, "a longer prefix (\(count) bytes) changed the header")
            default:
                check(false, "prefix of \(count) bytes is \(result) after \(previous)")
            }
            previous = result
        }
    }

    /// `ProxyHeader.parse` over a buffer of exactly the first `count` bytes.
    private func parse(_ count: Int) -> ProxyHeaderParseResult {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 1)
        defer { buffer.deallocate() }
        bytes.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[..<count])) }
        return ProxyHeader.parse(UnsafeRawBufferPointer(buffer), maxV2Length: maxV2Length)
    }

    private func compare(_ result: ProxyHeaderParseResult, _ model: ProxyModel.Verdict, count: Int) {
        switch (result, model) {
        case (.incomplete, .incomplete):
            break
        case (.invalid(let error), .invalid(let kind)):
            check(error.kind.rawValue == kind, "\(count) bytes: \(error), the model says \(kind)")
        case (.complete(let header), .complete(let expected)):
            check(header.version.rawValue == expected.version, "\(count) bytes: version \(header.version)")
            check((header.command == .local) == expected.local, "\(count) bytes: command \(header.command)")
            check(header.length == expected.length, "\(count) bytes: length \(header.length), the model's \(expected.length)")
            check(header.source.map { "\($0)" } == expected.source,
                  "\(count) bytes: source \(String(describing: header.source)), the model's \(expected.source ?? "none")")
            check(header.destination.map { "\($0)" } == expected.destination,
                  "\(count) bytes: destination \(String(describing: header.destination)), the model's \(expected.destination ?? "none")")
            check(header.alpn == expected.alpn, "\(count) bytes: ALPN differs from the model's")
            check(header.authority == expected.authority, "\(count) bytes: authority differs from the model's")
        default:
            check(false, "\(count) bytes: \(result), the model says \(model)")
        }
    }
}
