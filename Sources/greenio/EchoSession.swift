import GreenIO

/// The limits `greenio serve` applies to every connection.
struct EchoSettings: Sendable {
    /// How long a client may take to complete each line (counted from the connection, then from
    /// its previous line); nil for no limit.
    var lineTimeout: Duration?
    /// The longest line accepted, terminator included.
    var maxLine: Int
    /// How long an `ERR` reply may take to send, and how long the server then keeps reading and
    /// discarding input, so that closing does not reset the connection before the client has
    /// read the reply.
    var lingerTime: Duration = .seconds(1)
}

/// One client connection of `greenio serve`, served by its own green thread: every line received
/// is written back byte for byte until the client ends its side, breaks a limit or fails.
///
/// Generic over the connection (plain or TLS), so that the plain path is specialized for `Socket`.
struct EchoSession<Connection: EchoConnection>: Sendable {
    let socket: Connection
    /// The client, as the log lines name it.
    let name: ConnectionName
    let settings: EchoSettings

    /// Prepares the connection (for TLS: the handshake, within the first line's deadline), serves it
    /// to its end, logs how it ended and closes the socket.
    func run() async {
        let firstDeadline = settings.lineTimeout.map { Deadline.after($0) }
        await socket.serve(as: name, firstDeadline: firstDeadline) {
            try await echoLines(firstDeadline: firstDeadline)
        }
    }

    /// Echoes complete lines, one send per read, until the connection ends; returns why it ended.
    /// The first line must be complete by `firstDeadline`.
    private func echoLines(firstDeadline: Deadline?) async throws -> String {
        var buffer = LineBuffer(lineLimit: settings.maxLine)
        var lineDeadline = firstDeadline
        while true {
            let count: Int
            do {
                if buffer.isEmpty {
                    // Between lines: hold no buffer while the client is quiet (most connections,
                    // most of the time), and take one back when bytes arrive.
                    buffer.releaseIfEmpty()
                    try await socket.waitUntilReadable(deadline: lineDeadline)
                }
                guard case .completed(let n) = try await socket.receive(into: buffer.freeSpace(), deadline: lineDeadline) else {
                    continue  // Would-block cannot happen in blocking mode; just try again.
                }
                count = n
            } catch let error as IOError where error.kind == .timedOut {
                await sayGoodbye(EchoReply.timeout, buffer: &buffer)
                return "timeout"
            }
            if count == 0 {
                let finalLine = buffer.pendingLine
                if !finalLine.isEmpty { try await socket.sendAll(finalLine, deadline: sendDeadline()) }
                return "end of stream"
            }
            buffer.didRead(count)
            let scan = buffer.scanLines()
            if !scan.completeLines.isEmpty {
                try await socket.sendAll(scan.completeLines, deadline: sendDeadline())
                lineDeadline = settings.lineTimeout.map { Deadline.after($0) }
            }
            if scan.lineTooLong {
                await sayGoodbye(EchoReply.lineTooLong, buffer: &buffer)
                return "line too long"
            }
            buffer.dropCompleteLines()
        }
    }

    /// The deadline for one flush of echoed lines: the line timeout, if any.
    private func sendDeadline() -> Deadline? {
        settings.lineTimeout.map { Deadline.after($0) }
    }

    /// Sends `reply`, ends the server's side, and reads and discards input for a while (using
    /// `buffer` as scratch space) so that the close that follows does not reset the connection
    /// while the client still has unread input in flight.
    /// Best effort: a client that has gone or stopped reading simply misses the reply.
    private func sayGoodbye(_ reply: [UInt8], buffer: inout LineBuffer) async {
        let deadline = Deadline.after(settings.lingerTime)
        do {
            try await socket.sendAll(reply, deadline: deadline)
            try socket.shutdown(.write)
        } catch {
            return
        }
        var discarded = 0
        while discarded < EchoReply.lingerByteLimit {
            buffer.removeAll()
            guard case .completed(let n) = try? await socket.receive(into: buffer.freeSpace(), deadline: deadline),
                  n > 0 else { return }
            discarded += n
        }
    }
}

/// What `EchoSession` says when it ends a connection (a generic type cannot hold static stored
/// properties).
private enum EchoReply {
    static let timeout = Array("ERR timeout\n".utf8)
    static let lineTooLong = Array("ERR line too long\n".utf8)
    /// The most input discarded while lingering before a close.
    static let lingerByteLimit = 1 << 20
}
