import Glibc
import GreenIO
import GreenIOServer
import Logging
import Synchronization
import Testing

/// One log event a `CollectingLogHandler` saw.
struct LoggedEvent: Sendable {
    let level: Logger.Level
    let message: String
    let metadata: [String: String]

    /// Everything the event says, for "never payload bytes" checks.
    var allText: String { ([message] + metadata.map { "\($0.key)=\($0.value)" }).joined(separator: " ") }
}

/// Where a `CollectingLogHandler` keeps the events, shared by its copies.
final class LogStore: Sendable {
    private let storage = Mutex<[LoggedEvent]>([])
    func append(_ event: LoggedEvent) { storage.withLock { $0.append(event) } }
    var events: [LoggedEvent] { storage.withLock { $0 } }
}

/// A swift-log handler that records every event (all levels) with its merged metadata.
struct CollectingLogHandler: LogHandler {
    let store: LogStore
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        store.append(LoggedEvent(level: event.level, message: "\(event.message)",
                                 metadata: merged.mapValues { "\($0)" }))
    }
}

/// A logger that records into `store`.
func collectingLogger(_ store: LogStore) -> Logger {
    Logger(label: "test.server") { _ in CollectingLogHandler(store: store) }
}

/// The line echo, written the way the README shows.
@Sendable func echoLines(_ connection: ServerConnection) async throws -> CloseReason {
    while true {
        let line = try await connection.readLine()
        if line.isEmpty { return .endOfStream }
        try await connection.write(line)
        if connection.reader.bufferedByteCount == 0 { try await connection.flush() }
    }
}

/// Starts an in-process server on 127.0.0.1, port 0, with `configure` applied; returns it and its port.
func startTestServer(configure: (inout ServerConfiguration) -> Void = { _ in },
                     handler: @escaping ServerConnectionHandler = echoLines) throws -> (Server, Int) {
    var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
    configure(&configuration)
    let server = try Server(configuration: configuration, handler: handler)
    try server.start()
    return (server, server.localAddresses.first?.port ?? 0)
}

/// Stops `server` without a drain period and waits until it has stopped.
func stopTestServer(_ server: Server) async throws {
    server.stop(drainPeriod: .zero)
    try await server.waitUntilStopped()
}

/// Waits until `condition` holds, polling every 5 ms.
/// - Throws: `IOError` `.timedOut` naming `what` after `limit`.
func waitUntil(_ what: String, within limit: Duration = .seconds(10), _ condition: () -> Bool) async throws {
    let deadline = Deadline.after(limit)
    while !condition() {
        if deadline.hasPassed { throw IOError.timedOut("still waiting for \(what)") }
        try await Hub.sleep(for: .milliseconds(5))
    }
}

/// Waits until connecting to 127.0.0.1:`port` is refused (the listener has closed).
/// - Throws: `IOError` `.timedOut` if it is still accepted after `limit`.
func waitUntilRefused(port: Int, within limit: Duration = .seconds(5)) async throws {
    let deadline = Deadline.after(limit)
    while true {
        do {
            let socket = try await connectToServer(port: port)
            socket.close()
        } catch let error as IOError where error.errno?.rawValue == ECONNREFUSED {
            return
        }
        if deadline.hasPassed { throw IOError.timedOut("port \(port) still accepts connections") }
        try await Hub.sleep(for: .milliseconds(10))
    }
}
