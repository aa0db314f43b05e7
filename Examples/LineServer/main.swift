// A complete TLS line server on GreenIOServer: it answers each line with the line in capitals.
//     swift run line-server [PORT [MAX]]  then: openssl s_client -connect 127.0.0.1:PORT -quiet
import GreenIO
import GreenIOServer
import Logging

LoggingSystem.bootstrap(StreamLogHandler.standardError)
let port = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 7879
let identity = try TLSIdentity.selfSigned()           // or TLSIdentity(certificateChainFile:privateKeyFile:)
var configuration = ServerConfiguration(host: "127.0.0.1", port: port, tls: try TLSContext.server(identity: identity))
configuration.hubs = 2                                 // two threads, each accepting and serving
configuration.policy.lineTimeout = .seconds(30)        // each line within 30 s, or the connection closes
configuration.policy.maxLineLength = 1024              // longer lines are refused
configuration.policy.maxConnections = CommandLine.arguments.dropFirst(2).first.flatMap { Int($0) } ?? 1000  // more wait in the backlog
configuration.policy.drainPeriod = .seconds(5)         // on SIGTERM/SIGINT: 5 s to finish, then closed

let server = try Server(configuration: configuration) { connection in
    connection.log(.info, "hello")                     // logs carry peer= and hub=
    while true {
        let line: [UInt8]
        do {
            line = try await connection.readLine()     // the policy's limit and deadline
        } catch let error as IOError where error.kind == .lineTooLong {
            await connection.sendFinalReply(Array("ERR line too long\n".utf8))
            return .lineTooLong
        }
        if line.isEmpty { return .endOfStream }
        if connection.isDraining {                     // stopping: say so, then close
            await connection.sendFinalReply(Array("BYE server stopping\n".utf8))
            return .finished("draining")
        }
        try await connection.write(Array(String(decoding: line, as: UTF8.self).uppercased().utf8))
        if connection.reader.bufferedByteCount == 0 { try await connection.flush() }
    }
}
try server.run()                                       // logs "listening on …"; returns after the drain
