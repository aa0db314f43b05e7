import Glibc

/// The input buffer of one `greenio serve` connection: bytes read from the client, split into
/// complete lines (each ending in `\n`) and one pending, unterminated line.
///
/// Bytes are read straight into the buffer's free space, and complete lines are echoed straight
/// out of it, so an echo copies nothing but the pending line (moved to the front after a flush).
/// Memory stays bounded: the buffer is allocated when the first bytes are read, grows only while a
/// single pending line fills it, up to `lineLimit + 1` bytes (enough to see that a line is too long)
/// or its initial size, whichever is larger, and can be given back whenever it holds nothing
/// (`releaseIfEmpty()`), so an idle connection holds no buffer. Its first allocation is small
/// (`smallCapacity`, which the allocator serves from its per-thread cache) unless the first read
/// into the previous one brought more than half of that: a client sending a line at a time then
/// costs no trip to the general heap per line, and one sending batches still reads each batch at once.
struct LineBuffer: ~Copyable {
    /// The longest line accepted, terminator included.
    let lineLimit: Int
    private let maximumCapacity: Int
    private let initialCapacity: Int
    /// The first allocation after a small read.
    static let smallCapacity = 1_000
    /// The first read into the last allocation brought more than half of `smallCapacity`: the next
    /// first allocation is `initialCapacity`.
    private var readsAreLarge = false
    /// No read has gone into the current allocation yet.
    private var awaitingFirstRead = false
    private var storage = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    /// Bytes held: `[0, count)`.
    private var count = 0
    /// Where the pending line starts; everything before it is complete lines.
    private var pendingStart = 0
    /// How far the bytes held have been searched for newlines, so that a long line arriving in
    /// small pieces is not searched again from its start after every read.
    private var searchedCount = 0

    /// What `scanLines()` found in the bytes held.
    struct Scan {
        /// The complete lines (each with its `\n`) that come before any line that is too long.
        var completeLines: UnsafeRawBufferPointer
        /// True when a line (complete, or pending and already over the limit) is longer than
        /// `lineLimit` bytes; the bytes from that line on are not in `completeLines`.
        var lineTooLong: Bool
    }

    /// Makes an empty buffer.
    /// - Parameters:
    ///   - lineLimit: the longest line accepted, terminator included (at least 1).
    ///   - initialCapacity: the size of the first allocation.
    init(lineLimit: Int, initialCapacity: Int = 8192) {
        self.lineLimit = max(lineLimit, 1)
        self.initialCapacity = max(initialCapacity, 1)
        maximumCapacity = max(initialCapacity, self.lineLimit + 1)
    }

    /// True when no byte is held (no complete line, no pending line).
    var isEmpty: Bool { count == 0 }

    /// Frees the storage if no byte is held; the next `freeSpace()` allocates it again.
    mutating func releaseIfEmpty() {
        guard count == 0, storage.baseAddress != nil else { return }
        storage.deallocate()
        storage = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        pendingStart = 0
        searchedCount = 0
    }

    deinit { storage.deallocate() }

    /// The free space after the bytes held, to read into. Call `didRead(_:)` with the number of
    /// bytes read into it. Never empty while the pending line is within `lineLimit` (the buffer
    /// grows if that line fills it), which `scanLines()` guarantees unless it reports a line too long.
    mutating func freeSpace() -> UnsafeMutableRawBufferPointer {
        if count == storage.count { grow() }
        return UnsafeMutableRawBufferPointer(rebasing: storage[count...])
    }

    /// Records that `byteCount` bytes were read into `freeSpace()`.
    mutating func didRead(_ byteCount: Int) {
        count += byteCount
        if awaitingFirstRead {
            readsAreLarge = byteCount > LineBuffer.smallCapacity / 2
            awaitingFirstRead = false
        }
    }

    /// The unterminated line held after the complete lines (what to echo at end of stream).
    var pendingLine: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: storage[pendingStart..<count])
    }

    /// Finds the complete lines held, checking each against `lineLimit`, and marks them as
    /// complete. Call `dropCompleteLines()` once they have been sent.
    mutating func scanLines() -> Scan {
        guard let base = storage.baseAddress else {
            return Scan(completeLines: UnsafeRawBufferPointer(start: nil, count: 0), lineTooLong: false)
        }
        var lineStart = pendingStart
        var searchFrom = max(pendingStart, searchedCount)
        var tooLong = false
        while searchFrom < count, let newline = memchr(base + searchFrom, 0x0A, count - searchFrom) {
            let lineEnd = base.distance(to: newline) + 1
            if lineEnd - lineStart > lineLimit {
                tooLong = true
                break
            }
            lineStart = lineEnd
            searchFrom = lineEnd
        }
        if count - lineStart > lineLimit { tooLong = true }
        pendingStart = lineStart
        searchedCount = count
        return Scan(completeLines: UnsafeRawBufferPointer(start: base, count: lineStart), lineTooLong: tooLong)
    }

    /// Forgets the complete lines found by `scanLines()`, moving the pending line to the front.
    mutating func dropCompleteLines() {
        let pending = count - pendingStart
        if pending > 0, pendingStart > 0, let base = storage.baseAddress {
            memmove(base, base + pendingStart, pending)
        }
        count = pending
        pendingStart = 0
        searchedCount = pending
    }

    /// Forgets everything held (the buffer keeps its memory, to be reused as scratch space).
    mutating func removeAll() {
        count = 0
        pendingStart = 0
        searchedCount = 0
    }

    private mutating func grow() {
        if storage.baseAddress == nil {
            let capacity = readsAreLarge ? initialCapacity : min(LineBuffer.smallCapacity, initialCapacity)
            storage = .allocate(byteCount: capacity, alignment: 1)
            awaitingFirstRead = true
            return
        }
        let capacity = min(storage.count * 2, maximumCapacity)
        guard capacity > storage.count else { return }
        let larger = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 1)
        larger.copyMemory(from: UnsafeRawBufferPointer(storage))
        storage.deallocate()
        storage = larger
    }
}
