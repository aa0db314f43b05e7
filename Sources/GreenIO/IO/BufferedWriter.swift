/// CPython's `io.BufferedWriter` over a ``SocketIO``.
///
/// `write` copies into the buffer when the bytes fit and sends them through directly when they are
/// large; nothing is sent until the buffer fills, ``BufferedWriter/flush(deadline:)`` or
/// ``BufferedWriter/close()`` (there is no line buffering, as with CPython's `makefile`).
/// `writeAndFlush` does both in one call, sending from the caller's memory when nothing is
/// buffered. Each raw send obeys the socket's timeout; `deadline` adds an absolute limit for the
/// whole call.
///
/// In non-blocking mode a write that cannot take all of its bytes throws ``IOError``
/// ``IOError/Kind/wouldBlock`` whose ``IOError/bytesTransferred`` is how many bytes of this call were
/// accepted (sent or buffered; CPython's `characters_written`): re-submit the rest later. Buffered
/// bytes survive for a later `flush()`. After a timeout the buffer is consistent: sent bytes are gone from it, unsent ones
/// stay; a large write that went through directly may have partly reached the peer.
///
/// Memory: the buffer is allocated when bytes are first buffered (small at first, growing up to
/// `bufferSize` as writes need) and freed whenever a flush leaves it empty, so a writer between
/// messages holds none. None of this changes what is buffered or sent.
///
/// A writer is used by one green thread at a time; a second, concurrent call fails with
/// ``IOError/Kind/busy``.
public final class BufferedWriter: BinaryWriting, @unchecked Sendable {
    /// The raw file object underneath.
    public let raw: SocketIO
    /// The buffer size: writes up to this size are collected before anything is sent.
    public let bufferSize: Int
    /// True once `close()` was called.
    @exclusivity(unchecked) public private(set) var isClosed = false

    /// Unsent bytes are `storage[0..<count]`. The storage is allocated when bytes are buffered and
    /// freed whenever a flush (or the drain before a large write) leaves it empty, so an idle writer
    /// holds no memory; `storage.count` may be below `bufferSize` (it grows as writes need).
    @exclusivity(unchecked) var storage = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    @exclusivity(unchecked) var count = 0
    @exclusivity(unchecked) var isBusy = false
    /// The current (or, with no storage, the last) allocation held more than `smallCapacity` bytes
    /// at once: the next one starts at `bufferSize` instead of small.
    @exclusivity(unchecked) var writesAreLarge = false

    /// The first allocation after small writes (or `bufferSize` if that is smaller): served by the
    /// allocator's per-thread cache.
    static let smallCapacity = 1_000

    /// Makes a buffered writer over `raw`.
    /// - Throws: `IOError` `.invalidArgument` "buffer size must be strictly positive" for
    ///   `bufferSize <= 0`; `.unsupportedOperation` "File or stream is not writable." if `raw` was
    ///   not opened for writing.
    public init(_ raw: SocketIO, bufferSize: Int = 8192) throws {
        guard bufferSize > 0 else { throw IOError.invalidArgument("buffer size must be strictly positive") }
        guard try raw.writable() else { throw IOError(.unsupportedOperation, "File or stream is not writable.") }
        self.raw = raw
        self.bufferSize = bufferSize
    }

    deinit {
        storage.deallocateIOBuffer()
    }

    /// The number of bytes accepted and not yet sent.
    public var bufferedByteCount: Int { count }

    /// The bytes of storage the writer holds now (0 when nothing is buffered after a flush).
    var storageCapacity: Int { storage.count }

    /// The descriptor, -1 once closed (CPython's `name`).
    public var name: Int32 { raw.name }

    /// "wb" or "rwb", from the raw object.
    public var mode: String { raw.mode }

    /// Marks the writer busy for one call; fails with `closedMessage` if closed, or if already busy.
    @inline(__always) private func enter(_ closedMessage: String) throws {
        if isClosed { throw IOError.invalidArgument(closedMessage) }
        if isBusy { throw IOError(.busy, "reentrant call inside BufferedWriter: another green thread is writing") }
        isBusy = true
    }

    /// Ends the call; if the writer was closed meanwhile, drops what is left unsent.
    @inline(__always) private func leave() {
        isBusy = false
        if isClosed { count = 0 }
    }

    /// Copies as much of `bytes` as fits within `bufferSize`; returns how much.
    @inline(__always) private func buffer(_ bytes: UnsafeRawBufferPointer) -> Int {
        let n = Swift.min(bytes.count, bufferSize - count)
        if n > 0 {
            if count + n > storage.count { grow(toHold: count + n) }
            UnsafeMutableRawBufferPointer(rebasing: storage[count..<(count + n)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[0..<n]))
            count += n
        }
        return n
    }

    /// Allocates the storage, or grows it, to hold at least `needed` (at most `bufferSize`) bytes:
    /// a first allocation is small unless the last one held more than that; growth doubles, up to
    /// `bufferSize`.
    @inline(never) private func grow(toHold needed: Int) {
        let capacity: Int
        if storage.baseAddress == nil {
            capacity = writesAreLarge ? bufferSize : Swift.min(BufferedWriter.smallCapacity, bufferSize)
            writesAreLarge = false  // until this allocation holds more than small (`drain`)
        } else {
            capacity = Swift.min(storage.count * 2, bufferSize)
        }
        let larger = UnsafeMutableRawBufferPointer.allocateIOBuffer(byteCount: Swift.max(capacity, needed))
        if count > 0, let base = storage.baseAddress, let target = larger.baseAddress {
            target.copyMemory(from: base, byteCount: count)
        }
        storage.deallocateIOBuffer()
        storage = larger
    }

    /// Frees the storage when nothing is buffered.
    private func releaseIfEmpty() {
        guard count == 0, storage.baseAddress != nil else { return }
        storage.deallocateIOBuffer()
        storage = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    }

    /// Sends buffered bytes until none are left, then frees the storage.
    /// - Returns: false if the socket would block first (the rest stays buffered, at the front).
    @inline(__always) private func drain(deadline: Deadline?) async throws -> Bool {
        // Bytes are only added between drains, so the most this allocation holds shows here.
        if count > BufferedWriter.smallCapacity { writesAreLarge = true }
        var sent = 0
        defer {
            // Whatever happened, drop what was sent and keep the rest at the front.
            if sent > 0, let base = storage.baseAddress {
                count -= sent
                if count > 0 { base.copyMemory(from: base + sent, byteCount: count) }
            }
            releaseIfEmpty()
        }
        while sent < count {
            let pending = UnsafeRawBufferPointer(rebasing: storage[sent..<count])
            guard let n = try await raw.write(pending, deadline: deadline) else { return false }
            sent += n
        }
        return true
    }

    /// Accepts all of `bytes`: buffers them if they fit, else flushes and sends large data
    /// straight through (CPython's `write`).
    /// - Returns: `bytes.count`.
    /// - Throws: `IOError` `.wouldBlock` with `bytesTransferred` (non-blocking, not everything
    ///   accepted); `.invalidArgument` "write to closed file"; `.timedOut` with `bytesTransferred`
    ///   = how many bytes of this call were sent before it (buffered bytes stay consistent); socket
    ///   errors; `CancellationError`.
    public func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline? = nil) async throws -> Int {
        try enter("write to closed file")
        defer { leave() }
        if bytes.count <= bufferSize - count {
            return buffer(bytes)
        }
        var written = 0
        do {
            // Make room: send what is buffered.
            if try await !drain(deadline: deadline) {
                let accepted = buffer(bytes)
                if accepted == bytes.count { return accepted }
                throw IOError.wouldBlock(bytesTransferred: accepted)
            }
            // The buffer is empty: large data goes straight through, the tail is buffered.
            while bytes.count - written > bufferSize {
                let rest = UnsafeRawBufferPointer(rebasing: bytes[written...])
                guard let n = try await raw.write(rest, deadline: deadline) else {
                    written += buffer(UnsafeRawBufferPointer(rebasing: bytes[written...]))
                    if written == bytes.count { return written }
                    throw IOError.wouldBlock(bytesTransferred: written)
                }
                written += n
            }
        } catch {
            // Unlike CPython, say how much of this call went out before the timeout.
            throw IOError.withTransferred(error, written)
        }
        written += buffer(UnsafeRawBufferPointer(rebasing: bytes[written...]))
        return written
    }

    /// `write` for a byte array.
    public func write(_ bytes: [UInt8], deadline: Deadline? = nil) async throws -> Int {
        if bytes.count <= bufferSize - count && !isClosed && !isBusy {
            // Fast path: a copy into the buffer, no wait possible.
            return bytes.withUnsafeBytes { self.buffer($0) }
        }
        return try await withStableCopy(of: bytes) { try await write($0, deadline: deadline) }
    }

    /// Writes `bytes` and flushes: `write(_:deadline:)` followed by `flush(deadline:)` in one call
    /// (Go's `Write` + `Flush`; CPython has no equivalent), with one difference in where the bytes
    /// live. With nothing buffered, `bytes` are sent straight from the caller's memory: the writer
    /// neither copies nor allocates, and buffers only a rest the socket would not take. With bytes
    /// buffered, `bytes` are copied behind them when they fit (one send for both), else the buffer
    /// is sent first and `bytes` go out directly. Each raw send obeys the socket's timeout;
    /// `deadline` adds an absolute limit for the whole call.
    ///
    /// A reply to a request lent in place (`BufferedReader.withCompleteLines`, say) goes out this way
    /// without touching the writer's storage.
    ///
    /// - Throws: `IOError` `.wouldBlock` (non-blocking) when not everything could be sent, with
    ///   `bytesTransferred` = how many bytes of this call were accepted (sent, or buffered as far
    ///   as `bufferSize` allows, for a later `flush()`): re-submit the rest; `bytesTransferred ==
    ///   bytes.count` means all were accepted and only the flush is unfinished.
    ///   `.invalidArgument` "write to closed file"; `.timedOut` with `bytesTransferred` = how many
    ///   bytes of this call were accepted before it (sent, or copied into the buffer, where unsent
    ///   ones stay; the rest is not buffered); socket errors; `CancellationError`. After any error
    ///   the buffer is consistent, as after `write` and `flush`: sent bytes are gone from it,
    ///   unsent ones stay.
    public func writeAndFlush(_ bytes: UnsafeRawBufferPointer, deadline: Deadline? = nil) async throws {
        try enter("write to closed file")
        defer { leave() }
        var accepted = 0
        do {
            if count > 0 {
                if bytes.count <= bufferSize - count {
                    // Fits behind the buffered bytes: one send for both.
                    accepted = buffer(bytes)
                    if try await !drain(deadline: deadline) { throw IOError.wouldBlock(bytesTransferred: accepted) }
                    return
                }
                if try await !drain(deadline: deadline) {
                    accepted = buffer(bytes)
                    throw IOError.wouldBlock(bytesTransferred: accepted)
                }
            }
            // Nothing buffered: send from the caller's memory.
            while accepted < bytes.count {
                let rest = UnsafeRawBufferPointer(rebasing: bytes[accepted...])
                guard let n = try await raw.write(rest, deadline: deadline) else {
                    accepted += buffer(rest)
                    throw IOError.wouldBlock(bytesTransferred: accepted)
                }
                accepted += n
            }
        } catch {
            throw IOError.withTransferred(error, accepted)
        }
    }

    /// `writeAndFlush` for a byte array.
    public func writeAndFlush(_ bytes: [UInt8], deadline: Deadline? = nil) async throws {
        try await withStableCopy(of: bytes) { try await writeAndFlush($0, deadline: deadline) }
    }

    /// Sends every buffered byte (CPython's `flush`).
    /// - Throws: `IOError` `.wouldBlock` with `bytesTransferred` 0 in non-blocking mode when the
    ///   socket cannot take everything (the rest stays buffered for a later flush);
    ///   `.invalidArgument` "flush of closed file"; `.timedOut`, socket errors; `CancellationError`.
    public func flush(deadline: Deadline? = nil) async throws {
        try enter("flush of closed file")
        defer { leave() }
        if try await !drain(deadline: deadline) { throw IOError.wouldBlock(bytesTransferred: 0) }
    }

    /// Flushes, then closes the writer and its raw object. The writer ends closed even if the flush
    /// fails; then the unsent bytes are dropped and the flush's error is thrown (CPython's rule).
    /// While another green thread is in a write or flush, the flush fails with `.busy` and the
    /// writer still closes; that call settles what it was sending, then the rest is dropped.
    /// Idempotent.
    public func close() async throws {
        guard !isClosed else { return }
        defer {
            isClosed = true
            // A green thread parked in `drain` still owns the count and the storage; `leave()`
            // drops the rest.
            if !isBusy {
                count = 0
                releaseIfEmpty()
            }
            raw.close()
        }
        try await flush()
    }
}
