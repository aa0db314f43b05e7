import Glibc
import Testing
@testable import GreenIO

// Many connections at once, from green threads of the calling hub, for the resource suites.

/// The most connection attempts in flight at once: `greenio serve` listens with a backlog of 128,
/// and SYNs beyond a full accept queue are dropped and retried only after a second.
let connectBatch = 100

/// Opens `count` connections with `connect` (given the connection's index), `batch` at a time
/// concurrently, appending each one made to `opened` in index order, so that the caller (which
/// owns `opened` and closes it in a `defer`) also closes the ones made before a failure.
/// Must run in a green thread.
/// - Throws: the first error of a batch, once the whole batch has finished.
func openConnections<Connection: Sendable>(
    _ count: Int, batch: Int = connectBatch, into opened: inout [Connection],
    _ connect: @escaping @Sendable (Int) async throws -> Connection
) async throws {
    guard let hub = Hub.current else { throw IOError(.notOnHub, "openConnections needs a hub") }
    for start in stride(from: 0, to: count, by: batch) {
        let attempts = (start..<min(start + batch, count)).map { index in hub.spawn { try await connect(index) } }
        var failure: (any Error)?
        for attempt in attempts {
            do { opened.append(try await attempt.value) } catch { failure = failure ?? error }
        }
        if let failure { throw failure }
    }
}

/// Runs `check` on every connection (given it and its index), `batch` green threads at a time;
/// returns the failures, one line each (a check that returns a message or throws fails).
/// Must run in a green thread.
func checkConnections<Connection: Sendable>(
    _ connections: [Connection], batch: Int,
    _ check: @escaping @Sendable (Connection, Int) async throws -> String?
) async throws -> [String] {
    guard let hub = Hub.current else { throw IOError(.notOnHub, "checkConnections needs a hub") }
    var failures: [String] = []
    for start in stride(from: 0, to: connections.count, by: batch) {
        let checks = (start..<min(start + batch, connections.count)).map { index in
            let connection = connections[index]
            return hub.spawn { try await check(connection, index) }
        }
        for (offset, task) in checks.enumerated() {
            do {
                if let failure = try await task.value { failures.append("connection \(start + offset): \(failure)") }
            } catch {
                failures.append("connection \(start + offset): \(error)")
            }
        }
    }
    return failures
}

/// Sends `line` and receives as many bytes back (fewer only at end of stream), through a buffer
/// of just that size: thousands of these may be in flight at once.
/// - Throws: `IOError` `.timedOut` at `deadline`.
func echo(_ connection: some RawSocket, _ line: String, deadline: Deadline) async throws -> String {
    let sent = bytes(line)
    try await connection.sendAll(sent, deadline: deadline)
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(sent.count, 1), alignment: 1)
    defer { buffer.deallocate() }
    var received = 0
    while received < sent.count {
        let room = UnsafeMutableRawBufferPointer(rebasing: buffer[received..<sent.count])
        guard case .completed(let n) = try await connection.receive(into: room, deadline: deadline), n > 0 else { break }
        received += n
    }
    return String(decoding: buffer[..<received], as: UTF8.self)
}

/// The check `checkConnections` runs for an echo server: `line` comes back unchanged within `limit`.
func echoCheck(_ connection: some RawSocket, _ line: String, within limit: Duration) async throws -> String? {
    let echoed = try await echo(connection, line, deadline: .after(limit))
    return echoed == line ? nil : "sent \(line.debugDescription), got \(echoed.debugDescription)"
}

/// Prints a measured figure, so that a run's log shows it (grep "[measure]").
func reportMeasurement(_ text: String) {
    print("[measure] \(text)")
}

/// A connection to an echo server child process, plain or TLS (the tests' "either kind" type).
protocol EchoClient: RawSocket {}
extension Socket: EchoClient {}
extension TLSSocket: EchoClient {}

/// Connects to 127.0.0.1:`port` over TLS with `context` (after the handshake) or plain TCP, with
/// `timeout` as the connection's timeout mode.
func connectEchoClient(tls: Bool, port: Int, context: TLSContext, timeout: Duration) async throws -> any EchoClient {
    if tls {
        return try await TLSSocket.connect(host: "127.0.0.1", port: port, context: context, timeout: .timeout(timeout))
    }
    return try await Socket.connect(host: "127.0.0.1", port: port, timeout: .timeout(timeout))
}
