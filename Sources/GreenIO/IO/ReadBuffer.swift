import Glibc

/// The byte store behind `BufferedReader`: received bytes not yet handed out live in
/// `storage[start..<end]`.
///
/// It grows when a request needs more than fits (a long line is kept whole until it is complete,
/// so nothing received is ever dropped), gives the memory back once it is empty again (at once when
/// it had grown, else when the reader next has to wait: `releaseIfEmpty()`), and is only allocated
/// when a read needs it. Its first allocation is small (`smallCapacity`, which the allocator serves
/// from its per-thread cache) unless the first read into the previous one brought more than half of
/// that: a peer that sends a line at a time then costs no trip to the general heap per line, and one
/// that sends batches still gets each batch in one read. A buffer that had to grow (long lines,
/// large batches) is given back too, but its size is remembered (up to `largestRememberedCapacity`):
/// the next first allocation has it, so a stream of 64 KiB lines is read in large reads into one
/// allocation per batch instead of growing from `normalCapacity` by doubling, one read and one copy
/// per step, every time. A first read that fills its whole allocation doubles the remembered size
/// (a peer streaming batches larger than the buffer gets them in one read and one echo); one that
/// brings no more than `normalCapacity` forgets it.
struct ReadBuffer {
    private(set) var storage = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    private(set) var start = 0
    private(set) var end = 0
    /// The size the buffer returns to once empty.
    let normalCapacity: Int
    /// The first allocation after a small read (or `normalCapacity` if that is smaller).
    static let smallCapacity = 1_000
    /// The first read into the last allocation brought more than half of `smallCapacity`: the next
    /// first allocation is `normalCapacity`.
    private(set) var readsAreLarge = false
    /// No read has gone into the current allocation yet.
    private var awaitingFirstRead = false
    /// The size a grown buffer had when it was last given back (0: none, or forgotten).
    private(set) var rememberedCapacity = 0
    /// The current allocation grew (a request needed more than it had).
    private var grew = false
    /// The largest grown size remembered: 1 MiB.
    static let largestRememberedCapacity = 1 << 20
    /// How many of the buffered bytes, from the first, are known to hold no `\n`: a line arriving
    /// in small pieces is searched once, however many calls and reads it takes. Handing bytes out
    /// shortens it; putting bytes back (`unread`) resets it.
    var newlineFreeCount = 0

    init(normalCapacity: Int) {
        self.normalCapacity = normalCapacity
    }

    /// Frees the storage. Call once, when the owner goes away.
    mutating func deallocate() {
        storage.deallocateIOBuffer()
        storage = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        start = 0
        end = 0
        newlineFreeCount = 0
    }

    /// Frees the storage if no byte is buffered, so that a reader waiting for input holds no
    /// memory; the next `freeSpace(atLeast:)` allocates again.
    @inline(__always) mutating func releaseIfEmpty() {
        if start == end && storage.baseAddress != nil { reallocate(capacity: 0) }
    }

    /// Number of buffered bytes.
    @inline(__always) var count: Int { end - start }

    /// The buffered bytes.
    @inline(__always) var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: storage[start..<end])
    }

    /// Free space after the buffered bytes, at least `minimum` bytes (and, for an empty or small
    /// buffer, the whole normal capacity), moving or growing the storage as needed.
    mutating func freeSpace(atLeast minimum: Int) -> UnsafeMutableRawBufferPointer {
        let wanted = Swift.max(minimum, 1)
        if storage.count - end < wanted {
            if storage.baseAddress == nil {
                let first = readsAreLarge ? Swift.max(normalCapacity, rememberedCapacity)
                    : Swift.min(ReadBuffer.smallCapacity, normalCapacity)
                storage = .allocateIOBuffer(byteCount: Swift.max(first, wanted))
                awaitingFirstRead = true
                grew = false
            } else if start > 0 && storage.count - count >= wanted && storage.count >= normalCapacity {
                compact()
            } else {
                reallocate(capacity: Swift.max(normalCapacity, count + wanted, storage.count * 2))
                grew = true
            }
        }
        return UnsafeMutableRawBufferPointer(rebasing: storage[end...])
    }

    /// Records that `n` bytes were written into the space `freeSpace` returned.
    @inline(__always) mutating func didFill(_ n: Int) {
        end += n
        if awaitingFirstRead {
            readsAreLarge = n > ReadBuffer.smallCapacity / 2
            if end == storage.count && storage.count >= normalCapacity {
                // The read filled the whole allocation: the peer streams faster than one buffer
                // drains, so the next one starts twice as large (reads and sends of whole batches).
                rememberedCapacity = Swift.min(storage.count * 2, ReadBuffer.largestRememberedCapacity)
            } else if n <= normalCapacity {
                rememberedCapacity = 0
            }
            awaitingFirstRead = false
        }
    }

    /// Hands out the first `n` buffered bytes as an array and drops them from the buffer.
    mutating func take(_ n: Int) -> [UInt8] {
        let result = Array(UnsafeRawBufferPointer(rebasing: storage[start..<(start + n)]))
        consume(n)
        return result
    }

    /// Copies the first `destination.count` buffered bytes out and drops them from the buffer.
    mutating func take(into destination: UnsafeMutableRawBufferPointer) {
        guard destination.count > 0 else { return }
        destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: storage[start..<(start + destination.count)]))
        consume(destination.count)
    }

    /// Drops the first `n` buffered bytes.
    mutating func consume(_ n: Int) {
        start += n
        newlineFreeCount = Swift.max(0, newlineFreeCount - n)
        if start == end {
            start = 0
            end = 0
            // A long line or a large read grew the buffer: give the memory back, remembering
            // how large the next one should start.
            if storage.count > normalCapacity {
                if grew || rememberedCapacity > 0 {
                    rememberedCapacity = Swift.max(rememberedCapacity,
                                                   Swift.min(storage.count, ReadBuffer.largestRememberedCapacity))
                }
                reallocate(capacity: 0)
            }
        }
    }

    /// Puts `bytes` back in front of the buffered bytes, as if they had never been handed out
    /// (used when an operation fails after taking bytes, so that nothing is lost).
    mutating func unread(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        newlineFreeCount = 0
        if start < bytes.count {
            let oldCount = count
            let needed = bytes.count + oldCount
            let newStorage = UnsafeMutableRawBufferPointer.allocateIOBuffer(byteCount: Swift.max(normalCapacity, needed))
            UnsafeMutableRawBufferPointer(rebasing: newStorage[bytes.count..<needed])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: storage[start..<end]))
            storage.deallocateIOBuffer()
            storage = newStorage
            start = bytes.count
            end = needed
        }
        start -= bytes.count
        UnsafeMutableRawBufferPointer(rebasing: storage[start..<(start + bytes.count)]).copyMemory(from: bytes)
    }

    /// The offset (from `start`) of the first occurrence of `separator` that begins at or after
    /// `from` and ends within the first `within` buffered bytes, or nil.
    func firstIndex(of separator: [UInt8], from: Int, within: Int) -> Int? {
        let limit = Swift.min(within, count)
        guard let base = storage.baseAddress, limit - from >= separator.count else { return nil }
        let first = separator[0]
        var position = from
        while position + separator.count <= limit {
            let remaining = limit - separator.count + 1 - position
            guard let found = memchr(base + start + position, Int32(first), remaining) else { return nil }
            let offset = (UnsafeRawPointer(found) - UnsafeRawPointer(base)) - start
            let matches = separator.count == 1 || separator.withUnsafeBytes { pattern in
                pattern.baseAddress.map { memcmp(base + start + offset, $0, separator.count) == 0 } ?? false
            }
            if matches {
                return offset
            }
            position = offset + 1
        }
        return nil
    }

    /// `firstIndex(of: [\n], from:within:)` as one `memchr`: the line scanner's case.
    @inline(__always) func firstNewline(from: Int, within: Int) -> Int? {
        let limit = Swift.min(within, count)
        guard from < limit, let base = storage.baseAddress,
              let found = memchr(base + start + from, 0x0A, limit - from) else { return nil }
        return UnsafeRawPointer(base + start).distance(to: UnsafeRawPointer(found))
    }

    private mutating func compact() {
        let n = count
        if n > 0, let base = storage.baseAddress { memmove(base, base + start, n) }
        start = 0
        end = n
    }

    private mutating func reallocate(capacity: Int) {
        let n = count
        if capacity == 0 {
            storage.deallocateIOBuffer()
            storage = UnsafeMutableRawBufferPointer(start: nil, count: 0)
            start = 0
            end = 0
            return
        }
        let newStorage = UnsafeMutableRawBufferPointer.allocateIOBuffer(byteCount: capacity)
        if n > 0 {
            UnsafeMutableRawBufferPointer(rebasing: newStorage[0..<n])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: storage[start..<end]))
        }
        storage.deallocateIOBuffer()
        storage = newStorage
        start = 0
        end = n
    }
}
