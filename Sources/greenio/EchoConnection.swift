import GreenIO

/// A connection `EchoSession` and `RESPSession` can serve: a plain `Socket` or a `TLSSocket`,
/// through the raw socket protocol. The sessions are generic over it, so the plain path is
/// specialized for `Socket` and pays nothing for TLS.
protocol EchoConnection: RawSocket {
    /// Gets the connection ready for its first line, within `deadline` (the first line's): TCP_NODELAY
    /// for a plain socket, the handshake for TLS.
    /// - Throws: `EchoPreparationFailure` with the reason to log, `CancellationError`, or `IOError`.
    func prepareForEcho(deadline: Deadline?) async throws
}

/// Why a connection could not be prepared, as the close log line says it.
struct EchoPreparationFailure: Error, CustomStringConvertible {
    let description: String
}

extension Socket: EchoConnection {
    /// Turns off Nagle's algorithm: every echo goes out at once.
    func prepareForEcho(deadline: Deadline?) async throws {
        try setOption(.noDelay, true)
    }
}

extension TLSSocket: EchoConnection {
    /// Performs the server handshake in the connection's own green thread.
    /// - Throws: `EchoPreparationFailure` "tls handshake timed out" or "tls handshake failed: …";
    ///   `CancellationError`.
    func prepareForEcho(deadline: Deadline?) async throws {
        do {
            try await handshake(deadline: deadline)
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as IOError where error.kind == .timedOut {
            throw EchoPreparationFailure(description: "tls handshake timed out")
        } catch {
            throw EchoPreparationFailure(description: "tls handshake failed: \(error)")
        }
    }
}

extension EchoConnection {
    /// What every served connection shares, whatever its protocol: logs its opening, prepares it
    /// (TCP_NODELAY, or the TLS handshake within the first deadline), runs `protocolLoop` — which
    /// returns why the connection ended — then logs that reason and closes the socket.
    func serve(as name: ConnectionName, firstDeadline: Deadline?,
               _ protocolLoop: () async throws -> String) async {
        StandardStreams.printError("open \(name)")
        let reason: String
        do {
            try await prepareForEcho(deadline: firstDeadline)
            reason = try await protocolLoop()
        } catch is CancellationError {
            reason = "server stopping"
        } catch let failure as EchoPreparationFailure {
            reason = failure.description
        } catch let error as IOError where error.kind == .timedOut {
            reason = "timed out sending"
        } catch {
            reason = "error: \(error)"
        }
        close()
        StandardStreams.printError("close \(name) (\(reason))")
    }
}
