import GreenIO
import Synchronization

/// The in-memory key space of a RESP server (`RESPCommands`): keys and values are byte strings.
/// One store may be shared by every connection on every hub thread.
///
/// A mutex guards the dictionary; each method holds it for one short dictionary operation (values
/// are copy-on-write arrays, so copying one out is a reference count). Keys expire lazily: an
/// expired key is removed when a command next touches it, and counted by `count` until then (as
/// Redis's DBSIZE counts keys not yet evicted).
public final class RESPStore: Sendable {
    private struct Entry {
        var value: [UInt8]
        /// When the key expires (monotonic nanoseconds, `Deadline`'s clock); nil for never.
        var expiry: UInt64?
    }

    /// What SET requires of the key's current state.
    public enum Condition: Sendable {
        /// Always set (plain SET).
        case always
        /// Only if the key does not exist (NX).
        case ifAbsent
        /// Only if the key exists (XX).
        case ifPresent
    }

    /// Why INCR/DECR failed.
    public enum ArithmeticError: Error, Sendable {
        /// The value is not a decimal integer within `Int`'s range.
        case notAnInteger
        /// The result would be out of `Int`'s range.
        case overflow
    }

    /// A key: its bytes, hashed in one call rather than byte by byte (the default for `[UInt8]`,
    /// measured as the largest single cost of a SET).
    private struct Key: Hashable {
        let bytes: [UInt8]
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        func hash(into hasher: inout Hasher) { bytes.withUnsafeBytes { hasher.combine(bytes: $0) } }
    }

    private let entries = Mutex<[Key: Entry]>([:])

    /// An empty key space.
    public init() {}

    /// The value of `key`, nil if missing or expired.
    public func get(_ key: [UInt8]) -> [UInt8]? {
        let now = Deadline.now.nanoseconds
        return entries.withLockTraced(by: self) { Self.live(&$0, key, now)?.value }
    }

    /// The values of `keys`, in order.
    public func get(_ keys: ArraySlice<[UInt8]>) -> [[UInt8]?] {
        let now = Deadline.now.nanoseconds
        return entries.withLockTraced(by: self) { entries in keys.map { Self.live(&entries, $0, now)?.value } }
    }

    /// Sets `key` unless `condition` says otherwise, to expire at `expiry` (nil: never); a set
    /// replaces any earlier expiry.
    /// - Returns: whether the value was stored.
    public func set(_ key: [UInt8], _ value: [UInt8], expiry: Deadline?, condition: Condition = .always) -> Bool {
        let now = Deadline.now.nanoseconds
        return entries.withLockTraced(by: self) { entries in
            let exists = Self.live(&entries, key, now) != nil
            if (condition == .ifAbsent && exists) || (condition == .ifPresent && !exists) { return false }
            entries[Key(key)] = Entry(value: value, expiry: expiry?.nanoseconds)
            return true
        }
    }

    /// Sets each key to the value after it (MSET), clearing expiries; an unpaired last key is
    /// ignored.
    public func set(pairs: ArraySlice<[UInt8]>) {
        entries.withLockTraced(by: self) { entries in
            for index in stride(from: pairs.startIndex, to: pairs.endIndex - 1, by: 2) {
                entries[Key(pairs[index])] = Entry(value: pairs[index + 1], expiry: nil)
            }
        }
    }

    /// Removes `keys`; returns how many existed.
    public func delete(_ keys: ArraySlice<[UInt8]>) -> Int {
        let now = Deadline.now.nanoseconds
        return entries.withLockTraced(by: self) { entries in
            keys.reduce(0) { count, key in
                Self.live(&entries, key, now) != nil && entries.removeValue(forKey: Key(key)) != nil ? count + 1 : count
            }
        }
    }

    /// How many of `keys` exist (a key named twice counts twice).
    public func countExisting(_ keys: ArraySlice<[UInt8]>) -> Int {
        let now = Deadline.now.nanoseconds
        return entries.withLockTraced(by: self) { entries in keys.reduce(0) { Self.live(&entries, $1, now) != nil ? $0 + 1 : $0 } }
    }

    /// Adds `delta` to the decimal integer stored at `key` (0 if missing), keeping its expiry.
    /// - Returns: the new value, or why the value could not change.
    public func add(_ delta: Int, to key: [UInt8]) -> Result<Int, ArithmeticError> {
        let now = Deadline.now.nanoseconds
        return entries.withLockTraced(by: self) { entries in
            let entry = Self.live(&entries, key, now)
            guard let current = entry.map({ $0.value.decimalInteger }) ?? 0 else { return .failure(.notAnInteger) }
            let (sum, overflow) = current.addingReportingOverflow(delta)
            if overflow { return .failure(.overflow) }
            entries[Key(key)] = Entry(value: Array(String(sum).utf8), expiry: entry?.expiry)
            return .success(sum)
        }
    }

    /// The number of keys, including expired ones not yet removed.
    public var count: Int { entries.withLockTraced(by: self) { $0.count } }

    /// Removes every key.
    public func removeAll() {
        var old: [Key: Entry] = [:]
        entries.withLockTraced(by: self) { swap(&old, &$0) }
        // The old entries are freed here, outside the lock.
    }

    /// The entry of `key` if it exists and has not expired; an expired one is removed.
    private static func live(_ entries: inout [Key: Entry], _ key: [UInt8], _ now: UInt64) -> Entry? {
        guard let entry = entries[Key(key)] else { return nil }
        if let expiry = entry.expiry, expiry <= now {
            entries.removeValue(forKey: Key(key))
            return nil
        }
        return entry
    }
}
