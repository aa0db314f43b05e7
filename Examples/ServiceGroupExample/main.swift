// GreenIOServer as a swift-service-lifecycle `Service`, beside another service in one
// `ServiceGroup`: the group handles SIGTERM and SIGINT, and its graceful shutdown makes the server
// close its listeners, drain its connections (2 s here) and return; the other service ends too.
//
//     swift run service-group-example [PORT]
import GreenIOServer
import Logging
import ServiceLifecycle

/// Another service of the program: here it only waits for the shutdown and says so.
struct Janitor: Service {
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        logger.notice("janitor: shutting down")
    }
}

LoggingSystem.bootstrap(StreamLogHandler.standardError)
let logger = Logger(label: "service-group-example")
let port = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 7880
var configuration = ServerConfiguration(host: "127.0.0.1", port: port)
configuration.policy.drainPeriod = .seconds(2)
let server = try Server(configuration: configuration) { connection in
    while true {
        let line = try await connection.readLine()
        if line.isEmpty { return .endOfStream }
        try await connection.write(line)
        if connection.reader.bufferedByteCount == 0 { try await connection.flush() }
    }
}
let group = ServiceGroup(services: [server, Janitor(logger: logger)],
                         gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
try await group.run()
logger.notice("all services stopped")
