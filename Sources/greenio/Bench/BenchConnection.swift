import GreenIO
import Glibc

/// What one `greenio bench` run does, from its command line.
struct BenchSettings: Sendable {
    let endpoint: Endpoint
    /// Connect over TLS with these settings; nil for plain TCP.
    let tls: ClientTLS?
    let connections: Int
    /// Lines in flight per connection.
    let batch: Int
    /// Bytes per line, `\n` included.
    let lineLength: Int
    /// Seconds of warm-up before measuring.
    let warmup: Double
    /// Seconds measured.
    let measured: Double
    /// Seconds that bound connecting (with the handshake), each batch's round trip, and the wait
    /// for the server's end of stream at the end.
    let timeout: Double
}

/// A failure of one connection, with the message to report (without the connection's number).
struct BenchFailure: Error, CustomStringConvertible {
    let description: String
}

/// One connection's green thread in `greenio bench`: sends a batch with one `sendAll`, receives the
/// echo into a reusable buffer and compares each piece with what was sent (`memcmp`, no per-line
/// work or allocation), records the batch's round trip, and repeats until the run finishes. Then
/// it ends its sending side and expects the server to close without sending anything more.
///
/// Each receive asks for one byte more than the echo still owed and is preceded by
/// `waitUntilReadable`: a receive that takes the whole echo is then a short one, so the wait for
/// the next echo goes straight to the hub instead of first trying a receive that would block (one
/// system call less per batch, which matters when the load generator is the busier side).
///
/// Comparing the received bytes with the sent ones in order checks every line byte for byte, and
/// with its tag (see `BenchBatch`) that it is the right line of the right connection. A mismatch or
/// error ends the connection (its stream can no longer be trusted to line up) and is recorded.
struct BenchConnection<Connection: RawSocket> {
    let socket: Connection
    /// The connection's number, 0-based (its lines carry it).
    let index: Int
    let settings: BenchSettings
    let recorder: BenchRecorder

    /// The most one receive asks for.
    private static var receiveBufferSize: Int { 65536 }

    /// Runs the connection until the run finishes or the connection fails, then closes it.
    func run() async {
        let batch = BenchBatch(connection: index, count: settings.batch, length: settings.lineLength)
        let buffer = Self.receiveBuffer(for: batch)
        defer {
            buffer.deallocate()
            batch.deallocate()
            socket.close()
        }
        do {
            var sequence: UInt64 = 0
            while recorder.phase != .finished {
                batch.stamp(firstSequence: sequence)
                let start = Deadline.now
                let deadline = start.advanced(by: .seconds(settings.timeout))
                if let mismatch = try await echo(batch, into: buffer, deadline: deadline) {
                    recorder.recordMismatch("connection \(index): \(mismatch)")
                    return
                }
                recorder.batchCompleted(lines: batch.count, roundTrip: Deadline.now.nanoseconds - start.nanoseconds)
                sequence &+= UInt64(batch.count)
            }
            if let extra = try await expectEndOfStream(into: buffer) {
                recorder.recordMismatch("connection \(index): \(extra)")
            }
        } catch is CancellationError {
            recorder.recordError("connection \(index): cancelled")
        } catch {
            recorder.recordError("connection \(index): \(error)")
        }
    }

    /// A buffer for receiving the echo of `batch` (deallocate it when done): room for the whole
    /// echo and one byte more, up to 64 KiB.
    static func receiveBuffer(for batch: BenchBatch) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.min(batch.bytes.count + 1, receiveBufferSize), alignment: 16)
    }

    /// Sends `batch` with one `sendAll` and receives its echo into `buffer`, comparing it as it
    /// arrives, both within `deadline`.
    /// - Returns: nil if the echo matched; else the first difference, described.
    /// - Throws: `BenchFailure` for a timeout, an early end of stream or a socket error.
    func echo(_ batch: BenchBatch, into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline) async throws -> String? {
        try await send(batch, deadline: deadline)
        return try await receiveEcho(of: batch, into: buffer, deadline: deadline)
    }

    private func send(_ batch: BenchBatch, deadline: Deadline) async throws {
        do {
            try await socket.sendAll(UnsafeRawBufferPointer(batch.bytes), deadline: deadline)
        } catch let error as IOError where error.kind == .timedOut {
            throw BenchFailure(description: "timed out sending a batch (--timeout \(settings.timeout) s)")
        } catch let error as IOError {
            throw BenchFailure(description: "sending: \(error)")
        }
    }

    /// Receives the echo of `batch` and compares it with the batch as it arrives.
    /// - Returns: nil if it matched; else the first difference, described.
    /// - Throws: `BenchFailure` for a timeout, an early end of stream or a socket error.
    private func receiveEcho(of batch: BenchBatch, into buffer: UnsafeMutableRawBufferPointer,
                             deadline: Deadline) async throws -> String? {
        let total = batch.bytes.count
        var received = 0
        while received < total {
            let room = UnsafeMutableRawBufferPointer(rebasing: buffer[..<Swift.min(buffer.count, total - received + 1)])
            let count = try await receive(into: room, deadline: deadline, waitingFor: "the echo of a batch")
            if count == 0 {
                throw BenchFailure(description: "the server closed the connection after \(received) of the \(total) bytes of a batch's echo")
            }
            let owed = Swift.min(count, total - received)
            let echoed = UnsafeRawBufferPointer(rebasing: room[..<owed])
            let sent = UnsafeRawBufferPointer(rebasing: batch.bytes[received..<(received + owed)])
            if !Self.equal(echoed, sent) { return batch.describeMismatch(echoed: echoed, at: received) }
            if count > owed {
                return "unexpected bytes after a batch's echo: \(BenchBatch.quote(Array(room[owed..<count])))"
            }
            received += count
        }
        return nil
    }

    /// Ends the sending side (over TLS after a close_notify) and waits for the server's end of stream.
    /// - Returns: nil at the end of stream; else a description of the bytes that came instead.
    private func expectEndOfStream(into buffer: UnsafeMutableRawBufferPointer) async throws -> String? {
        do {
            try socket.shutdown(.write)
        } catch {
            throw BenchFailure(description: "ending the connection: \(error)")
        }
        let count = try await receive(into: buffer, deadline: .after(.seconds(settings.timeout)),
                                      waitingFor: "the server to close the connection after the last batch")
        guard count > 0 else { return nil }
        return "unexpected bytes after the last batch: \(BenchBatch.quote(Array(buffer[..<count])))"
    }

    /// One receive, after waiting until it can make progress; a timeout or socket error becomes a
    /// `BenchFailure` saying what was awaited.
    private func receive(into room: UnsafeMutableRawBufferPointer, deadline: Deadline,
                         waitingFor what: String) async throws -> Int {
        do {
            try await socket.waitUntilReadable(deadline: deadline)
            switch try await socket.receive(into: room, deadline: deadline) {
            case .completed(let count): return count
            case .wouldBlock: throw BenchFailure(description: "receiving: unexpected would-block")
            }
        } catch let error as IOError where error.kind == .timedOut {
            throw BenchFailure(description: "timed out waiting for \(what) (--timeout \(settings.timeout) s)")
        } catch let error as IOError {
            throw BenchFailure(description: "receiving: \(error)")
        }
    }

    @inline(__always) private static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard let first = a.baseAddress, let second = b.baseAddress else { return a.count == b.count }
        return a.count == b.count && memcmp(first, second, a.count) == 0
    }
}
