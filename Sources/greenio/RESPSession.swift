import GreenIO
import GreenIORESP

/// What `greenio serve --protocol resp` shares between its connections.
struct RESPSettings: Sendable {
    /// The longest bulk string accepted (`--max-bulk`); a longer one is a protocol error.
    var maxBulk: Int
    /// The commands, on the process's one key space.
    var commands: RESPCommands
}

/// One client connection of `greenio serve --protocol resp`, served by its own green thread
/// through GreenIO's file objects (`makeReadWritePair`) and GreenIORESP's command loop
/// (`RESPConnection`: commands decoded in place from the reader's buffer, replies flushed once per
/// pipelined batch). This adapter adds the CLI's part: preparing the socket, the log lines and the
/// goodbye before a close.
struct RESPSession<Connection: EchoConnection>: Sendable {
    let socket: Connection
    let name: ConnectionName
    /// The per-command timeout (`lineTimeout`: from the connection or the previous command to the
    /// end of the next one), `maxLine` for each line, and the linger time.
    let settings: EchoSettings
    let resp: RESPSettings

    /// The most input discarded while lingering before a close.
    private static var lingerByteLimit: Int { 1 << 20 }

    /// Prepares the connection (TCP_NODELAY, or the TLS handshake within the first command's
    /// deadline), serves it to its end, logs how it ended and closes the socket.
    func run() async {
        let firstDeadline = settings.lineTimeout.map { Deadline.after($0) }
        await socket.serve(as: name, firstDeadline: firstDeadline) {
            try await serveCommands(firstDeadline: firstDeadline)
        }
    }

    /// Reads and answers commands until the stream ends, the client quits, breaks the protocol or
    /// times out; returns why the connection ended.
    private func serveCommands(firstDeadline: Deadline?) async throws -> String {
        let file = try socket.makeReadWritePair()
        defer { file.reader.close() }  // Releases the file's reference; unsent replies are dropped.
        let connection = RESPConnection(
            commands: resp.commands, decoder: RESPDecoder(maxLine: settings.maxLine, maxBulk: resp.maxBulk))
        let lineTimeout = settings.lineTimeout
        let end = try await connection.serve(file: file, firstDeadline: firstDeadline) {
            lineTimeout.map { Deadline.after($0) }
        }
        switch end {
        case .endOfStream:
            return "end of stream"
        case .quit:
            await sayGoodbye(file)
            return "quit"
        case .protocolError(let error):
            await sayGoodbye(file)
            return "protocol error: \(error.message)"
        case .timeout:
            return "timeout"  // As Redis, an idle client is closed without a reply.
        }
    }

    /// Sends the replies still buffered (the last one included), ends the server's side, and reads
    /// and discards input for a while, so that the close that follows does not reset the
    /// connection before the client has read them. Best effort.
    private func sayGoodbye(_ file: BufferedRWPair) async {
        let deadline = Deadline.after(settings.lingerTime)
        do {
            try await file.flush(deadline: deadline)
            try socket.shutdown(.write)
        } catch {
            return
        }
        var discarded = 0
        while discarded < Self.lingerByteLimit {
            guard let bytes = try? await file.reader.read1(65536, deadline: deadline), !bytes.isEmpty else { return }
            discarded += bytes.count
        }
    }
}
