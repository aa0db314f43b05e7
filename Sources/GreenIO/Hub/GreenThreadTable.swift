/// The hub's map from a running task to its green-thread record, looked up on every wait.
///
/// Open addressing with linear probing, keyed by the task's address: a lookup is a multiply, a
/// shift and usually one comparison, where `Dictionary` would run SipHash. Hub thread only.
struct GreenThreadTable {
    private static let empty: UInt = 0
    private static let deleted: UInt = 1

    private var keys: [UInt] = Array(repeating: GreenThreadTable.empty, count: 16)
    private var values: [GreenThread?] = Array(repeating: nil, count: 16)
    /// Live entries.
    private(set) var count = 0
    /// Live entries plus tombstones; the table grows or is rebuilt before it fills.
    private var occupied = 0

    var isEmpty: Bool { count == 0 }

    /// Every live record.
    var records: [GreenThread] { values.compactMap { $0 } }

    @inline(__always) private func slot(for key: UInt, mask: Int) -> Int {
        Int(truncatingIfNeeded: (key &>> 4) &* 0x9E37_79B9_7F4A_7C15 &>> 40) & mask
    }

    func lookup(_ key: UInt) -> GreenThread? {
        let mask = keys.count - 1
        var index = slot(for: key, mask: mask)
        while true {
            let candidate = keys[index]
            if candidate == key { return values[index] }
            if candidate == GreenThreadTable.empty { return nil }
            index = (index + 1) & mask
        }
    }

    mutating func insert(_ key: UInt, _ record: GreenThread) {
        if (occupied + 1) * 4 > keys.count * 3 { rebuild(capacity: count * 2 >= keys.count / 2 ? keys.count * 2 : keys.count) }
        let mask = keys.count - 1
        var index = slot(for: key, mask: mask)
        while keys[index] != GreenThreadTable.empty && keys[index] != GreenThreadTable.deleted && keys[index] != key {
            index = (index + 1) & mask
        }
        if keys[index] == GreenThreadTable.empty { occupied += 1 }
        if keys[index] != key { count += 1 }
        keys[index] = key
        values[index] = record
    }

    mutating func remove(_ key: UInt) {
        let mask = keys.count - 1
        var index = slot(for: key, mask: mask)
        while true {
            let candidate = keys[index]
            if candidate == GreenThreadTable.empty { return }
            if candidate == key {
                keys[index] = GreenThreadTable.deleted
                values[index] = nil
                count -= 1
                return
            }
            index = (index + 1) & mask
        }
    }

    private mutating func rebuild(capacity: Int) {
        let oldKeys = keys
        let oldValues = values
        keys = Array(repeating: GreenThreadTable.empty, count: capacity)
        values = Array(repeating: nil, count: capacity)
        count = 0
        occupied = 0
        for (key, value) in zip(oldKeys, oldValues) where key > GreenThreadTable.deleted {
            if let value { insert(key, value) }
        }
    }
}
