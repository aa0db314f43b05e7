extension RawSocket {
    /// Python's `sendall(bytes)`: sends everything (plain or TLS), with one overall deadline (the
    /// socket's timeout from the start of the call, capped by `deadline`), as CPython ≥ 3.5 does for
    /// plain sockets.
    ///
    /// - Throws: `IOError` `.timedOut` ("timed out") or, in non-blocking mode, `.wouldBlock`, each
    ///   with `bytesTransferred` set to how much was accepted before it; `.system`;
    ///   `CancellationError`.
    public func sendAll(_ bytes: UnsafeRawBufferPointer, deadline: Deadline? = nil) async throws {
        let overall = timeout.deadline(capping: deadline)
        var sent = 0
        repeat {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[sent...])
            let outcome: IOOutcome
            do {
                outcome = try await send(rest, deadline: overall)
            } catch let error as IOError where error.kind == .timedOut {
                throw IOError(.timedOut, error.message, bytesTransferred: sent)
            }
            switch outcome {
            case .completed(let count): sent += count
            case .wouldBlock: throw IOError.wouldBlock(bytesTransferred: sent)
            }
        } while sent < bytes.count
    }

    /// `sendAll` for a byte array.
    public func sendAll(_ bytes: [UInt8], deadline: Deadline? = nil) async throws {
        try await withStableCopy(of: bytes) { try await sendAll($0, deadline: deadline) }
    }
}
