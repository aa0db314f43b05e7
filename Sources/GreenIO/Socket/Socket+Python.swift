import Glibc

extension Socket {
    /// Python's `recv(bufsize)`: receives at most `maxBytes` bytes; an empty result is the end of
    /// the stream (or `maxBytes == 0`, which, unlike CPython, first waits until the socket is
    /// readable, so timeouts fire).
    /// - Throws: `IOError` `.wouldBlock` in non-blocking mode when nothing is there, `.timedOut`
    ///   ("timed out"), `.invalidArgument` for a negative size, `.system`; `CancellationError`.
    public func recv(_ maxBytes: Int) async throws -> [UInt8] {
        guard maxBytes >= 0 else { throw IOError.invalidArgument("negative buffersize in recv") }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: maxBytes, alignment: 1)
        defer { buffer.deallocate() }
        switch try await receive(into: buffer, deadline: nil) {
        case .completed(let count): return Array(buffer[..<count])
        case .wouldBlock: throw IOError.wouldBlock()
        }
    }

    /// Python's `recv_into(buffer)`: receives into `buffer` and returns the count (0 at the end of
    /// the stream). Throws as `recv(_:)`.
    public func recvInto(_ buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        switch try await receive(into: buffer, deadline: nil) {
        case .completed(let count): return count
        case .wouldBlock: throw IOError.wouldBlock()
        }
    }

    /// Python's `send(bytes)`: sends some prefix of `bytes` and returns its length.
    /// - Throws: `IOError` `.wouldBlock` in non-blocking mode when the send buffer is full,
    ///   `.timedOut`, `.system` (`EPIPE`, `ECONNRESET`); `CancellationError`.
    public func send(_ bytes: [UInt8]) async throws -> Int {
        switch try await withStableCopy(of: bytes, { try await send($0, deadline: nil) }) {
        case .completed(let count): return count
        case .wouldBlock: throw IOError.wouldBlock()
        }
    }
}
