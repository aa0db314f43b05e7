import GreenIO
import Glibc

/// The client behind `greenio connect`: two green threads on one hub, one copying standard
/// input to the socket, one copying the socket to standard output. Over TLS both share one
/// `TLSSocket` (one reader and one writer may work at the same time).
struct LineClient: Sendable {
    let endpoint: Endpoint
    /// Bounds connecting (with the TLS handshake) and each read from the server; nil waits as long
    /// as it takes.
    let timeout: Duration?
    /// Connect over TLS with these settings; nil for plain TCP.
    let tls: ClientTLS?

    /// Connects and copies in both directions until the server closes the connection.
    ///
    /// If the server closes first while standard input is still open, the process exits at once:
    /// a blocking read of standard input cannot be interrupted.
    ///
    /// - Returns: nil on success, else a one-line description of what failed.
    /// - Throws: `IOError` if the hub cannot be created.
    func run() throws -> String? {
        signal(SIGPIPE, SIG_IGN)
        return try Hub.run { await self.converse() }
    }

    private func converse() async -> String? {
        let socket: Socket
        do {
            socket = try await Socket.connect(host: endpoint.host, port: endpoint.port,
                                              timeout: timeout.map { .timeout($0) } ?? .blocking)
            try socket.setOption(.noDelay, true)
        } catch {
            return "cannot connect to \(endpoint): \(error)"
        }
        guard let tls else {
            // From here on the timeout bounds each read only (through its deadline), not sends.
            do {
                try socket.setTimeout(.blocking)
            } catch {
                socket.close()
                return "cannot connect to \(endpoint): \(error)"
            }
            return await converse(over: socket)
        }
        let secure: TLSSocket
        do {
            // The handshake runs in the connect timeout's mode; a failed one closes the socket.
            secure = try await TLSSocket.wrap(socket, context: tls.context, serverHostname: tls.serverHostname)
        } catch {
            socket.close()
            return "TLS handshake with \(endpoint) failed: \(error)"
        }
        do {
            try secure.setTimeout(.blocking)
        } catch {
            secure.close()
            return "TLS with \(endpoint): \(error)"
        }
        return await converse(over: secure)
    }

    /// Copies in both directions over a connected socket (plain or TLS) and closes it.
    private func converse<Connection: RawSocket>(over socket: Connection) async -> String? {
        defer { socket.close() }
        guard let hub = Hub.current else { return "no hub" }
        let sending = SendingState()
        hub.spawn {
            do {
                try await Self.copyInput(to: socket)
            } catch is CancellationError {
            } catch {
                sending.failure = "sending to \(self.endpoint): \(error)"
            }
            sending.isFinished = true
        }
        var failure = await copyReplies(from: socket)
        if failure == nil { failure = sending.failure }
        if !sending.isFinished {
            // Still reading standard input, which cannot be interrupted: end the process here.
            if let failure { StandardStreams.printError("greenio connect: \(failure)") }
            exit(failure == nil ? 0 : 1)
        }
        return failure
    }

    /// Copies standard input to `socket` until it ends, then shuts down the sending side (over TLS
    /// `shutdown(.write)` sends a close_notify first).
    private static func copyInput<Connection: RawSocket>(to socket: Connection) async throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)
        defer { buffer.deallocate() }
        while true {
            let count = try await StandardStreams.readInput(into: buffer)
            if count == 0 { break }
            try await socket.sendAll(UnsafeRawBufferPointer(rebasing: buffer[..<count]), deadline: nil)
        }
        try socket.shutdown(.write)
    }

    /// Copies what the server sends to standard output until it closes the connection.
    /// - Returns: nil at the server's end of stream, else what went wrong.
    private func copyReplies<Connection: RawSocket>(from socket: Connection) async -> String? {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)
        defer { buffer.deallocate() }
        while true {
            let count: Int
            do {
                let deadline = timeout.map { Deadline.after($0) }
                guard case .completed(let n) = try await socket.receive(into: buffer, deadline: deadline) else { continue }
                count = n
            } catch let error as IOError where error.kind == .timedOut {
                return "timed out waiting for \(endpoint)"
            } catch {
                return "receiving from \(endpoint): \(error)"
            }
            if count == 0 { return nil }
            do {
                try await StandardStreams.writeOutput(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
            } catch {
                return "writing to standard output: \(error)"
            }
        }
    }
}

/// What the sending green thread reports to the receiving one (both on the hub thread).
private final class SendingState: @unchecked Sendable {
    var isFinished = false
    var failure: String?
}
