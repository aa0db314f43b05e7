import Glibc
import Testing
@testable import GreenIO

// The misbehaving peers of AdversarialServeTests. Each one works on any connection (plain or TLS)
// from one green thread, so a TLS socket is never used by two green threads at once.

/// How an attacking connection ended, as its peer saw it.
struct PeerOutcome: Sendable {
    /// Everything the server sent.
    var received: [UInt8] = []
    /// Bytes the peer managed to send.
    var sent = 0
    /// True if the server ended the connection (end of stream, reset, broken pipe).
    var closedByServer = false
    /// The error that ended it, if any.
    var error: String?
    /// Seconds from the start of the attack to its end.
    var elapsed = 0.0
}

/// True for an error that means the server has closed or reset the connection.
private func isConnectionEnd(_ error: any Error) -> Bool {
    guard let error = error as? IOError else { return false }
    if error.kind == .tlsEOF || error.kind == .closed { return true }
    guard let errno = error.errno?.rawValue else { return error.kind == .tls }
    return [ECONNRESET, EPIPE, ENOTCONN].contains(errno)
}

/// Slowloris: sends `bytes` one at a time, `interval` apart, never completing what the server
/// waits for, and reads whatever comes back in between, until the server ends the connection or
/// `limit` passes.
func dribble(_ socket: any RawSocket, _ bytes: [UInt8], interval: Duration = .milliseconds(100),
             within limit: Duration) async -> PeerOutcome {
    let start = Deadline.now
    let end = Deadline.after(limit)
    var outcome = PeerOutcome()
    var next = 0
    while !end.hasPassed && !outcome.closedByServer {
        do {
            if next < bytes.count {
                try await socket.sendAll([bytes[next]], deadline: end)
                next += 1
                outcome.sent += 1
            }
            // Wait for a reply until the next byte is due: a timeout here is the normal case.
            let pause = Deadline.after(interval)
            while !pause.hasPassed {
                guard let chunk = try await receiveChunk(socket, deadline: pause) else {
                    outcome.closedByServer = true
                    break
                }
                outcome.received += chunk
            }
        } catch let error as IOError where error.kind == .timedOut {
            continue
        } catch {
            outcome.closedByServer = isConnectionEnd(error)
            outcome.error = "\(error)"
            break
        }
    }
    outcome.elapsed = seconds(since: start)
    return outcome
}

/// Sends `header` and then `count` bytes of `filler` (never a newline) in 64 KiB pieces, as fast as
/// the server takes them, until all are sent or the server ends the connection; then reads
/// whatever the server sent, to its end (within `limit` in all).
func flood(_ socket: any RawSocket, header: [UInt8], filler: UInt8, count: Int, within limit: Duration) async -> PeerOutcome {
    let start = Deadline.now
    let end = Deadline.after(limit)
    var outcome = PeerOutcome()
    let piece = [UInt8](repeating: filler, count: 65536)
    do {
        try await socket.sendAll(header, deadline: end)
        while outcome.sent < count {
            let size = min(piece.count, count - outcome.sent)
            try await socket.sendAll(size == piece.count ? piece : Array(piece[..<size]), deadline: end)
            outcome.sent += size
        }
    } catch {
        outcome.closedByServer = isConnectionEnd(error)
        outcome.error = "\(error)"
    }
    // The reply sent before the server closed is still readable, even after a reset.
    while true {
        do {
            guard let chunk = try await receiveChunk(socket, deadline: end) else {
                outcome.closedByServer = true
                break
            }
            outcome.received += chunk
        } catch {
            if isConnectionEnd(error) { outcome.closedByServer = true }
            outcome.error = outcome.error ?? "\(error)"
            break
        }
    }
    outcome.elapsed = seconds(since: start)
    return outcome
}

/// Reads until the server ends the connection (end of stream or reset) or `limit` passes.
func awaitServerClose(_ socket: any RawSocket, within limit: Duration) async -> PeerOutcome {
    await flood(socket, header: [], filler: 0, count: 0, within: limit)
}

/// Pipelines `request` over and over without ever reading, until the connection takes nothing for
/// `quiet`: both directions' buffers are full and the server is stuck writing its replies.
/// - Returns: the bytes sent.
/// - Throws: `AdversarialFailure` if the server still takes requests after `limit` (it would then
///   be reading without writing, buffering the replies).
func floodWithoutReading(_ socket: any RawSocket, request: [UInt8], quiet: Duration = .milliseconds(500),
                         within limit: Duration = .seconds(20)) async throws -> Int {
    let end = Deadline.after(limit)
    var batch: [UInt8] = []
    while batch.count < 65536 { batch += request }
    var sent = 0
    while !end.hasPassed {
        do {
            try await socket.sendAll(batch, deadline: .after(quiet))
            sent += batch.count
        } catch let error as IOError where error.kind == .timedOut {
            return sent
        }
    }
    throw AdversarialFailure("the server still took requests after \(sent) bytes without a reader")
}

// MARK: TLS

/// The first flight of a TLS client (its ClientHello record), as OpenSSL through GreenIO sends it:
/// captured over a socket pair, with no server. Call on a hub.
func captureClientHello() async throws -> [UInt8] {
    guard let hub = Hub.current else { throw IOError(.notOnHub, "needs a hub") }
    let (client, capture) = try Socket.pair()
    defer { capture.close() }
    let context = try TLSContext.client(verification: .insecureNoVerification)
    let handshake = hub.spawn { () -> Void in
        let tls = try await TLSSocket.wrap(client, context: context, serverHostname: "localhost")
        tls.close()
    }
    defer { handshake.cancel() }
    // A record: type, version (2), length (2), then the body.
    let deadline = Deadline.after(.seconds(5))
    var record = try await receiveExactly(capture, count: 5, deadline: deadline)
    guard record.count == 5, record[0] == 0x16 else { throw AdversarialFailure("not a handshake record: \(record)") }
    let length = Int(record[3]) << 8 | Int(record[4])
    record += try await receiveExactly(capture, count: length, deadline: deadline)
    guard record.count == 5 + length else { throw AdversarialFailure("short ClientHello: \(record.count) bytes") }
    return record
}

/// How a `python3` peer ends a connection in the middle of a line.
enum AbruptEnding: String, Sendable, CaseIterable, CustomTestStringConvertible {
    /// TLS close_notify (then FIN), TLS servers only.
    case closeNotify = "close_notify"
    /// FIN (TCP shutdown of the sending side) with no close_notify.
    case fin
    /// RST: SO_LINGER 0, then close.
    case rst

    var testDescription: String { rawValue }
}

/// Python peer: connects (TLS without verification if asked), sends `data`, waits a moment, then
/// ends the connection as `ending` says, reads until the server closes, and prints its local address.
private let abruptPeerScript = """
    import socket, ssl, struct, sys, time
    port, tls, ending, data = int(sys.argv[1]), sys.argv[2] == "tls", sys.argv[3], sys.argv[4].encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        s = context.wrap_socket(s, server_hostname="localhost")
    print("local %s:%d" % s.getsockname()[:2], flush=True)
    s.sendall(data)
    time.sleep(0.3)  # the server has read the partial line
    if ending == "rst":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    else:
        try:
            if ending == "close_notify":
                s = s.unwrap()
            else:
                s.shutdown(socket.SHUT_WR)  # an SSLSocket sends no close_notify here
            while s.recv(65536):
                pass
        except (OSError, ssl.SSLError):
            pass
    s.close()
    print("done", flush=True)
    """

/// Runs the Python peer against `port`: sends `data` (a partial line), then ends the connection as
/// `ending` says. Returns the peer's address as the server logs it.
func runAbruptPeer(port: Int, tls: Bool, ending: AbruptEnding, data: String) async throws -> String {
    let peer = try ChildProcess.python(abruptPeerScript, ["\(port)", tls ? "tls" : "plain", ending.rawValue, data])
    defer { peer.terminate() }
    let deadline = Deadline.after(.seconds(15))
    let name = try await peer.readLine(startingWith: "local ", deadline: deadline)
    _ = try await peer.readLine(startingWith: "done", deadline: deadline)
    let status = try await peer.waitForExit(deadline: deadline)
    guard status == 0 else { throw AdversarialFailure("python peer exited \(status): \(peer.errorText())") }
    return name
}
