import COpenSSL
import Glibc

/// The OpenSSL BIO through which a `TLSSocket` reads and writes its descriptor, with the socket's
/// read-ahead buffer.
///
/// Sending: OpenSSL's own socket BIO writes with `write(2)`, which raises SIGPIPE when the peer has
/// gone and by default kills the process. This BIO sends with `MSG_NOSIGNAL`, as plain GreenIO
/// sockets do, so a write to a vanished peer is just an `EPIPE` error and GreenIO never has to touch
/// the process's signal handling. And it never tells OpenSSL "would block": ciphertext the kernel
/// does not take at once is kept here (`unsentCount`) and sent before any later ciphertext
/// (`flush`), so every `SSL_*` call that encrypts finishes, and OpenSSL never holds a half-sent
/// record that it would need the caller's same bytes again to finish. `TLSSocket` bounds what is
/// kept (one record's worth per write, and no write while some is kept) and has the hub flush it
/// whenever the descriptor turns writable. A send error is kept too (`sendFailure`): from then on
/// every write fails with it.
///
/// Receiving: OpenSSL asks for a record's 5-byte header, then for its body. Receiving exactly that
/// would cost two `recv`s per record, and a `recv` that fills what was asked says nothing about what
/// is left in the kernel. So the BIO receives as much as a buffer of its own holds and serves OpenSSL
/// from it: one `recv` per burst of small records (lines, commands, pipelined batches: what request
/// and response protocols send), and a short `recv` shows the kernel's queue empty (`drained`), which
/// lets `TLSSocket.waitUntilReadable` wait without probing first. The buffer is small (1,000 bytes)
/// for interactive traffic and large (20 KiB) while `recv`s bring more; the body of a bulk record
/// (4 KiB or more) goes straight from the kernel into OpenSSL — two `recv`s per record, as without
/// read-ahead, and no second copy of bulk data.
/// OpenSSL's own read-ahead would save the `recv` too, but it keeps the bytes where nobody can reach
/// them; these stay ours, so `TLSSocket.unwrap` hands the cleartext that followed the peer's
/// close_notify to the plain socket instead of losing it. The buffer is allocated when a `recv`
/// needs it and freed when it is empty and the connection has been idle a moment (the socket's
/// `releaseIdleMemory`), so an idle connection holds none.
///
/// A receive that would block sets OpenSSL's retry flag, which is what turns it into WANT_READ; the
/// end of the stream sets the end-of-file flag, as OpenSSL's socket BIO does. The BIO never closes
/// the descriptor. It is used from the socket's hub thread only.
final class SocketBIO {
    /// The buffer for interactive traffic: a few small records (a line, a command) with their
    /// headers.
    static let smallCapacity = 1_000
    /// The buffer while a `recv` brings more than half of the small one in records of moderate
    /// size (pipelined batches): many records per `recv`.
    static let largeCapacity = 20_480
    /// Records at least this long are bulk: their bodies go straight into OpenSSL (no second copy),
    /// and the buffer only takes each header with the first bytes of its body.
    static let bulkRecord = 4_096

    let descriptor: Int32
    private var buffer = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    private var start = 0
    private var end = 0
    /// What the last `recv` returned, and the length of the last record header served: together
    /// they choose the buffer's size for the next `recv`.
    private var lastReceived = 0
    private var lastRecordLength = 0
    /// Ciphertext OpenSSL wrote that the kernel has not taken yet: `outgoing[sentCount..<keptCount]`.
    /// Allocated when the kernel first refuses bytes, freed once they are all sent.
    private var outgoing = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    private var sentCount = 0
    private var keptCount = 0
    /// The error of a send that failed (`EPIPE`, `ECONNRESET`, …): what was kept is dropped, and
    /// every later write of OpenSSL's fails with it.
    private(set) var sendFailure: Errno?
    /// The last `recv` returned fewer bytes than asked, or would block: the kernel's data queue was
    /// empty then, so every byte since has come with an epoll edge (see `Socket.drainedByLastReceive`).
    /// Cleared by a `recv` that filled what it asked for, the end of the stream, an error, and by
    /// `TLSSocket` before any read wait (which may take the edge of bytes not yet received).
    var drained = false

    /// A BIO over `descriptor` (which it does not own), holding `carried` — bytes already received
    /// from the descriptor by an earlier owner — as the first bytes to read.
    init(descriptor: Int32, carried: [UInt8] = []) {
        self.descriptor = descriptor
        if !carried.isEmpty {
            buffer = .allocateIOBuffer(byteCount: carried.count)
            buffer.copyBytes(from: carried)
            end = carried.count
        }
    }

    deinit {
        buffer.deallocateIOBuffer()
        outgoing.deallocateIOBuffer()
    }

    /// Bytes received from the descriptor that OpenSSL has not read yet.
    var bufferedCount: Int { end - start }
    /// The bytes of read-ahead buffer held now (0 when given back).
    var bufferCapacity: Int { buffer.count }

    /// Bytes of ciphertext waiting for the kernel to take them.
    var unsentCount: Int { keptCount - sentCount }

    /// Sends kept ciphertext until none is left or the kernel takes no more.
    /// - Returns: true when nothing is kept any more (all sent, or dropped after a send error, which
    ///   `sendFailure` then holds); false when the kernel would block (an epoll edge will follow).
    func flush() -> Bool {
        guard keptCount > 0, let base = outgoing.baseAddress else { return true }
        if let sent = send(base + sentCount, count: keptCount - sentCount) {
            sentCount += sent
            if sentCount < keptCount { return false }
        }
        discardKept()
        return true
    }

    /// Sends `count` bytes at `data` until the kernel takes no more (`EINTR` retried). The
    /// corresponding C function is `send(2)` with `MSG_NOSIGNAL`.
    /// - Returns: how many were sent (fewer than `count`: the kernel would block), or nil after a
    ///   send error, which `sendFailure` then holds.
    @inline(__always)  // into `write`, which runs for every record OpenSSL writes
    private func send(_ data: UnsafeRawPointer, count: Int) -> Int? {
        var sent = 0
        while sent < count {
            switch SystemCall.send(descriptor, data + sent, count - sent) {
            case .success(let n):
                sent += n
            case .failure(let error):
                if error == .wouldBlock { return sent }
                sendFailure = error
                return nil
            }
        }
        return sent
    }

    private func discardKept() {
        outgoing.deallocateIOBuffer()
        outgoing = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        sentCount = 0
        keptCount = 0
    }

    /// OpenSSL's write: sends `data` unless ciphertext is kept already, and keeps what the kernel
    /// does not take. Returns `length`, or -1 with `errno` set to the send error (this write's, or
    /// an earlier one's): `TLSSocket` reads it after OpenSSL reports `SSL_ERROR_SYSCALL`.
    private func write(_ data: UnsafeRawPointer, length: Int) -> Int32 {
        var sent = 0
        if sendFailure == nil && keptCount == 0 {
            if let taken = send(data, count: length) {
                if taken == length { return Int32(length) }
                sent = taken
            }
        }
        if let sendFailure {
            errno = sendFailure.rawValue
            return -1
        }
        keep(UnsafeRawBufferPointer(start: data + sent, count: length - sent))
        return Int32(length)
    }

    /// Appends `bytes` to the kept ciphertext.
    private func keep(_ bytes: UnsafeRawBufferPointer) {
        let needed = unsentCount + bytes.count
        if keptCount + bytes.count > outgoing.count {
            let larger = UnsafeMutableRawBufferPointer.allocateIOBuffer(byteCount: max(needed, 2 * outgoing.count))
            if let base = outgoing.baseAddress, let target = larger.baseAddress {
                target.copyMemory(from: base + sentCount, byteCount: unsentCount)
            }
            outgoing.deallocateIOBuffer()
            outgoing = larger
            keptCount = unsentCount
            sentCount = 0
        }
        guard let base = outgoing.baseAddress, let source = bytes.baseAddress else { return }
        (base + keptCount).copyMemory(from: source, byteCount: bytes.count)
        keptCount += bytes.count
    }

    /// Frees the buffer if it holds nothing (the connection is about to wait).
    func releaseIfEmpty() {
        guard start == end, buffer.baseAddress != nil else { return }
        buffer.deallocateIOBuffer()
        buffer = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        start = 0
        end = 0
    }

    /// Takes the bytes OpenSSL has not read (for `TLSSocket.unwrap`), leaving the buffer empty.
    func takeBuffered() -> [UInt8] {
        let bytes = Array(UnsafeRawBufferPointer(rebasing: buffer[start..<end]))
        start = end
        releaseIfEmpty()
        return bytes
    }

    /// A new OpenSSL BIO reading and writing through this object, which must outlive it.
    func makeBIO() -> OpaquePointer? {
        guard let method = SocketBIO.method, let bio = BIO_new(method) else { return nil }
        BIO_set_data(bio, Unmanaged.passUnretained(self).toOpaque())
        return bio
    }

    /// OpenSSL's read: serves `length` bytes at most from the buffer, receiving into it first when
    /// it is empty — or, when OpenSSL asks for more than the buffer holds (the body of a large
    /// record), straight into OpenSSL's memory, so bulk data is never copied twice.
    /// Returns the count, 0 at the end of the stream, -1 with `errno` on failure.
    private func read(_ bio: OpaquePointer, into data: UnsafeMutableRawPointer, length: Int) -> Int32 {
        if start == end {
            let capacity = lastRecordLength < SocketBIO.bulkRecord && lastReceived > SocketBIO.smallCapacity / 2
                ? SocketBIO.largeCapacity : SocketBIO.smallCapacity
            if length >= capacity { return receive(bio, into: data, length: length) }
            if buffer.count != capacity {  // none yet, the other size, or the one that held carried bytes
                buffer.deallocateIOBuffer()
                buffer = .allocateIOBuffer(byteCount: capacity)
            }
            guard let storage = buffer.baseAddress else { return -1 }
            let n = receive(bio, into: storage, length: buffer.count)
            guard n > 0 else { return n }  // would block (the socket's idle release frees it), end, error
            start = 0
            end = Int(n)
        }
        guard let storage = buffer.baseAddress else { return -1 }
        let n = min(length, end - start)
        data.copyMemory(from: storage + start, byteCount: n)
        if n == 5 && length == 5 {
            // A record header (OpenSSL asks for exactly its 5 bytes): note the body's length.
            lastRecordLength = Int(storage.load(fromByteOffset: start + 3, as: UInt8.self)) << 8
                | Int(storage.load(fromByteOffset: start + 4, as: UInt8.self))
        }
        start += n
        return Int32(n)
    }

    /// One `recv(2)` into `data`, with the flags and `drained` it implies. An interrupted `recv`
    /// (`EINTR`) is not made again here but reported as a retry, as a would-block is: OpenSSL
    /// returns WANT_READ and `TLSSocket` calls again after its wait.
    /// Returns the count, 0 at the end of the stream, or -1 with `errno` set to the error.
    private func receive(_ bio: OpaquePointer, into data: UnsafeMutableRawPointer, length: Int) -> Int32 {
        switch SystemCall.receive(descriptor, data, length, retryOnInterrupt: false) {
        case .success(let n) where n > 0:
            lastReceived = n
            drained = n < length
            return Int32(n)
        case .success:
            drained = false
            // OpenSSL 3 asks `BIO_eof` to tell a TCP close without close_notify from an error.
            BIO_set_flags(bio, BIO_FLAGS_IN_EOF)
            return 0
        case .failure(let error):
            let wouldBlock = error == .wouldBlock
            drained = wouldBlock
            if wouldBlock || error == .interrupted { greenio_BIO_set_retry_read(bio) }
            errno = error.rawValue  // what OpenSSL's caller reads after SSL_ERROR_SYSCALL
            return -1
        }
    }

    private static func instance(_ bio: OpaquePointer) -> SocketBIO {
        Unmanaged<SocketBIO>.fromOpaque(BIO_get_data(bio)).takeUnretainedValue()
    }

    /// The method table, made once.
    nonisolated(unsafe) static let method: OpaquePointer? = {
        guard let method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "greenio socket") else { return nil }
        // The classic int-returning callbacks: -1 with `errno` on failure, as OpenSSL's socket BIO
        // reports it (an `_ex` callback's 0 would read as an end of stream).
        _ = BIO_meth_set_write(method) { bio, data, length in
            guard let bio else { return -1 }
            greenio_BIO_clear_retry_flags(bio)
            guard let data, length > 0 else { return 0 }
            return SocketBIO.instance(bio).write(data, length: Int(length))
        }
        _ = BIO_meth_set_read(method) { bio, data, length in
            guard let bio, let data else { return 0 }
            greenio_BIO_clear_retry_flags(bio)
            guard length > 0 else { return 0 }
            return SocketBIO.instance(bio).read(bio, into: data, length: Int(length))
        }
        _ = BIO_meth_set_ctrl(method) { bio, command, _, pointer in
            switch command {
            case BIO_CTRL_FLUSH, BIO_CTRL_DUP:
                return 1
            case BIO_CTRL_EOF:
                return BIO_test_flags(bio, BIO_FLAGS_IN_EOF) != 0 ? 1 : 0
            case BIO_CTRL_PENDING:
                guard let bio else { return 0 }
                return SocketBIO.instance(bio).bufferedCount
            case BIO_C_GET_FD:
                guard let bio else { return -1 }
                let fd = SocketBIO.instance(bio).descriptor
                pointer?.assumingMemoryBound(to: Int32.self).pointee = fd
                return Int(fd)
            default:
                return 0
            }
        }
        _ = BIO_meth_set_create(method) { bio in
            BIO_set_init(bio, 1)
            return 1
        }
        return method
    }()
}
