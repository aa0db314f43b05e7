import GreenIO

extension ServerConnection {
    /// The most input discarded while lingering before a close.
    static let lingerByteLimit = 1 << 20

    /// Sends what is buffered and `reply`, ends the server's side of the connection, then reads
    /// and discards the client's input until it ends its side, 1 MiB has been discarded or
    /// `policy.lingerTime` has passed — so the close that follows does not reset the connection
    /// (which would destroy the reply) while the client still has bytes in flight. Return the
    /// close reason from the handler right after it.
    ///
    /// Best effort, within `lingerTime` in all: a client that has gone or stopped reading simply
    /// misses the reply. Never throws.
    public func sendFinalReply(_ reply: [UInt8]) async {
        let deadline = Deadline.after(policy.lingerTime)
        do {
            if !reply.isEmpty { _ = try await writer.write(reply, deadline: deadline) }
            try await writer.flush(deadline: deadline)
            try socket.shutdown(.write)
        } catch {
            return
        }
        var discarded = 0
        while true {
            discarded += (try? reader.consumeBuffered { bytes in (bytes.count, bytes.count) }) ?? 0
            guard discarded < Self.lingerByteLimit,
                  let got = try? await reader.fill(deadline: deadline), got > 0 else { return }
        }
    }
}
