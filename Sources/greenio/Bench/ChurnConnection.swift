import GreenIO

/// A connection `greenio bench --churn` can ask about TLS session resumption; plain sockets never
/// resume and have no session.
protocol ChurnSocket: RawSocket {
    /// Whether the handshake resumed a session.
    var sessionReused: Bool { get }
    /// The session to offer on the next connection, if the server gave one.
    var session: TLSClientSession? { get }
}

extension TLSSocket: ChurnSocket {}

extension Socket: ChurnSocket {
    var sessionReused: Bool { false }
    var session: TLSClientSession? { nil }
}

/// One green thread of `greenio bench --churn`: connects (with the TLS handshake, if any), sends one
/// line, receives its echo and checks it byte for byte, closes — and again, until the run finishes.
/// Each completed connection counts as one line, its connect-to-echo time as its round trip; the
/// close is left out of that time (it is in the connection rate).
///
/// The line carries the worker's number and the connection's sequence number (`BenchBatch`), so an
/// echo meant for another connection never matches. The first error or mismatch ends the worker and
/// is recorded (the run then fails anyway, and its first failure stays the one reported).
struct ChurnConnection<Connection: ChurnSocket>: Sendable {
    /// The worker's number, 0-based (its lines carry it).
    let index: Int
    let settings: BenchSettings
    let recorder: BenchRecorder
    /// Offer each connection the session of the one before (`--resume`); else none is offered.
    let resume: Bool
    /// Makes one connection, offering the session given, if any.
    let connect: @Sendable (TLSClientSession?) async throws -> Connection

    /// Connects, echoes and closes until the run finishes or a connection fails.
    func run() async {
        let line = BenchBatch(connection: index, count: 1, length: settings.lineLength)
        let buffer = BenchConnection<Connection>.receiveBuffer(for: line)
        defer {
            buffer.deallocate()
            line.deallocate()
        }
        var sequence: UInt64 = 0
        var session: TLSClientSession?
        while recorder.phase != .finished {
            line.stamp(firstSequence: sequence)
            sequence &+= 1
            let start = Deadline.now
            let deadline = start.advanced(by: .seconds(settings.timeout))
            do {
                let socket = try await connect(resume ? session : nil)
                defer { socket.close() }
                let exchange = BenchConnection(socket: socket, index: index, settings: settings, recorder: recorder)
                if let mismatch = try await exchange.echo(line, into: buffer, deadline: deadline) {
                    recorder.recordMismatch("connection \(index): \(mismatch)")
                    return
                }
                recorder.batchCompleted(lines: 1, roundTrip: Deadline.now.nanoseconds - start.nanoseconds)
                if socket.sessionReused { recorder.connectionResumed() }
                // The echo has been read, so a TLS 1.3 server's ticket has too. A connection that
                // brought no new session leaves the last one to offer again.
                if resume { session = socket.session ?? session }
            } catch {
                recorder.recordError("connection \(index): \(error)")
                return
            }
        }
    }
}
