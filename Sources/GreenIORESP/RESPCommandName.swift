/// A command `greenio serve --protocol resp` knows, recognised from the client's bytes in any case
/// without making a string: every name fits in 8 bytes, so the name is folded to upper case and
/// packed into one integer, compared against the known ones.
enum RESPCommandName: CaseIterable, Sendable {
    case ping, echo, get, set, del, exists, incr, decr, mget, mset, dbsize, flushall, flushdb
    case select, quit, command, config, hello, client

    /// The name as Redis spells it in replies, upper case ("GET").
    var name: String { String(describing: self).uppercased() }

    /// How many arguments the command takes, its name included.
    var arity: ClosedRange<Int> {
        switch self {
        case .dbsize: 1...1
        case .ping, .flushall, .flushdb: 1...2
        case .quit, .command, .hello: 1...Int.max
        case .echo, .get, .incr, .decr, .select: 2...2
        case .del, .exists, .mget, .config, .client: 2...Int.max
        case .mset: 3...Int.max
        case .set: 3...8
        }
    }

    /// The command named by `bytes` (ASCII, any case); nil for any other name.
    init?(_ bytes: [UInt8]) {
        guard let key = RESPCommandName.key(bytes),
              let index = RESPCommandName.keys.firstIndex(where: { $0 == (key, bytes.count) }) else { return nil }
        self = RESPCommandName.allCases[index]
    }

    /// Whether `bytes` spell `word` (upper-case ASCII) in any case.
    static func matches(_ bytes: [UInt8], _ word: StaticString) -> Bool {
        guard bytes.count == word.utf8CodeUnitCount else { return false }
        let expected = UnsafeRawBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        for (byte, letter) in zip(bytes, expected) where uppercase(byte) != letter { return false }
        return true
    }

    /// The known names' keys and lengths (a NUL byte packs like no byte), in `allCases` order.
    private static let keys: [(UInt64, Int)] = allCases.map { (key(Array($0.name.utf8)) ?? 0, $0.name.utf8.count) }

    /// `bytes` folded to upper case and packed little-endian into an integer; nil if empty or
    /// longer than 8 bytes (no known name is).
    private static func key(_ bytes: [UInt8]) -> UInt64? {
        guard (1...8).contains(bytes.count) else { return nil }
        var key: UInt64 = 0
        for (index, byte) in bytes.enumerated() { key |= UInt64(uppercase(byte)) << (8 * UInt64(index)) }
        return key
    }

    @inline(__always) private static func uppercase(_ byte: UInt8) -> UInt8 {
        (97...122).contains(byte) ? byte - 32 : byte
    }
}
