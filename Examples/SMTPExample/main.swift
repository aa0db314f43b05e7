// A small SMTP-style server with STARTTLS, on GreenIOServer, and a client that uses it.
//
// One process plays both sides: a `Server` whose handler speaks a tiny subset of SMTP (EHLO,
// STARTTLS, MAIL FROM, RCPT TO, DATA, QUIT) and a client that upgrades its connection to TLS
// before it sends a message. A second client is still connected when the server stops: its next
// command is answered "421" (the server is draining) and the connection closes. Every line either
// side sends is printed.
//
//     swift run smtp-example
//
// What it shows: a handler on `ServerConnection` (the policy's line limit, SMTP lines being at
// most 1000 bytes, and its deadlines), a buffered writer flushed once per reply,
// `startTLS(context:reader:)`, which refuses to upgrade when cleartext bytes were already received
// after the STARTTLS command (the command-injection hole STARTTLS is known for), and
// `isDraining` for a polite goodbye when the server stops.

import Glibc
import GreenIO
import GreenIOServer
import Logging

/// SMTP's longest line, CRLF included.
let maxLine = 1000

/// A line-oriented connection: the buffered read-write pair over a plain or TLS socket.
struct Conversation {
    let file: BufferedRWPair
    let who: String

    init(_ socket: some RawSocket, who: String) throws {
        file = try socket.makeReadWritePair()
        self.who = who
    }

    init(file: BufferedRWPair, who: String) {
        self.file = file
        self.who = who
    }

    /// Sends one line (CRLF added) and flushes.
    func send(_ line: String) async throws {
        print("\(who): \(line)")
        try await file.write(Array((line + "\r\n").utf8))
        try await file.flush()
    }

    /// Receives one line without its CRLF; nil at the end of the stream.
    func receive() async throws -> String? {
        guard var bytes = try await file.readLine(maxLength: maxLine), !bytes.isEmpty else { return nil }
        while let last = bytes.last, last == 10 || last == 13 { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Receives a whole reply ("250-first", "250 last") and returns its last line.
    func reply(expecting code: String) async throws -> String {
        while let line = try await receive() {
            guard line.hasPrefix(code) else { throw ExampleError("expected \(code), got: \(line)") }
            if line.count < 4 || line[line.index(line.startIndex, offsetBy: 3)] != "-" { return line }
        }
        throw ExampleError("the connection ended while waiting for \(code)")
    }
}

struct ExampleError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: The server

/// Serves one client: cleartext until STARTTLS, then the rest over TLS.
func serve(_ connection: ServerConnection, tls context: TLSContext) async throws -> CloseReason {
    guard let plain = connection.socket as? Socket else { throw ExampleError("expected a plain socket") }
    var conversation = Conversation(file: connection.file, who: "S")
    var upgraded: TLSSocket?
    defer { upgraded?.close() }
    var recipients = 0
    try await conversation.send("220 greenio ESMTP ready")
    while let command = try await conversation.receive() {
        if connection.isDraining {
            try await conversation.send("421 greenio shutting down")
            return .finished("draining")
        }
        let secure = upgraded != nil
        let verb = command.split(separator: " ").first.map { $0.uppercased() } ?? ""
        switch verb {
        case "EHLO":
            if secure {
                try await conversation.send("250 greenio at your service")
            } else {
                try await conversation.send("250-greenio at your service")
                try await conversation.send("250 STARTTLS")
            }
        case "STARTTLS":
            guard !secure else {
                try await conversation.send("503 TLS already active")
                continue
            }
            try await conversation.send("220 Ready to start TLS")
            // Refuses if the client already sent more than the command (a pipelined injection).
            let tls = try await plain.startTLS(context: context, reader: conversation.file.reader)
            upgraded = tls
            conversation = try Conversation(tls, who: "S")
        case "MAIL" where !secure, "RCPT" where !secure, "DATA" where !secure:
            try await conversation.send("530 Must issue a STARTTLS command first")
        case "MAIL" where secure:
            try await conversation.send("250 OK")
        case "RCPT" where secure:
            recipients += 1
            try await conversation.send("250 OK")
        case "DATA" where secure:
            try await conversation.send("354 End data with <CR><LF>.<CR><LF>")
            var size = 0
            while let line = try await conversation.receive(), line != "." { size += line.utf8.count + 2 }
            try await conversation.send("250 OK: queued, \(size) bytes for \(recipients) recipient(s)")
        case "QUIT":
            try await conversation.send("221 Bye")
            try await conversation.file.close()
            return .finished("quit")
        default:
            try await conversation.send("500 Unrecognised command")
        }
    }
    return .endOfStream
}

// MARK: The client

/// Connects, upgrades to TLS, sends one message and quits.
func send(to port: Int, trusting identity: TLSIdentity) async throws {
    let plain = try await Socket.connect(host: "127.0.0.1", port: port, timeout: .timeout(.seconds(5)))
    var conversation = try Conversation(plain, who: "C")
    _ = try await conversation.reply(expecting: "220")
    try await conversation.send("EHLO client.example")
    _ = try await conversation.reply(expecting: "250")
    try await conversation.send("MAIL FROM:<alice@example.org>")
    _ = try await conversation.reply(expecting: "530")  // not before TLS
    try await conversation.send("STARTTLS")
    _ = try await conversation.reply(expecting: "220")
    let context = try TLSContext.client(verification: .trustedCertificatesPEM(identity.certificateChainPEM))
    let tls = try await plain.startTLS(context: context, serverHostname: "localhost", reader: conversation.file.reader)
    print("   (client: TLS up, \(tls.negotiatedVersion ?? "?"), \(tls.cipher ?? "?"))")
    conversation = try Conversation(tls, who: "C")
    try await conversation.send("EHLO client.example")
    _ = try await conversation.reply(expecting: "250")
    try await conversation.send("MAIL FROM:<alice@example.org>")
    _ = try await conversation.reply(expecting: "250")
    try await conversation.send("RCPT TO:<bob@example.org>")
    _ = try await conversation.reply(expecting: "250")
    try await conversation.send("DATA")
    _ = try await conversation.reply(expecting: "354")
    for line in ["Subject: hello", "", "Sent over green TLS.", "."] { try await conversation.send(line) }
    print("   (client: \(try await conversation.reply(expecting: "250")))")
    try await conversation.send("QUIT")
    _ = try await conversation.reply(expecting: "221")
    try await conversation.file.close()
}

/// Connects and waits for the greeting, then, once the server is stopping, sends a command:
/// the answer is 421 and the server closes the connection.
func sayHelloWhileStopping(to port: Int, stop server: Server) async throws {
    let plain = try await Socket.connect(host: "127.0.0.1", port: port, timeout: .timeout(.seconds(5)))
    let conversation = try Conversation(plain, who: "C")
    _ = try await conversation.reply(expecting: "220")
    server.stop()
    try await conversation.send("EHLO late.example")
    _ = try await conversation.reply(expecting: "421")
    guard try await conversation.receive() == nil else { throw ExampleError("still open after 421") }
    try await conversation.file.close()
    plain.close()
}

// MARK: Both in one process

LoggingSystem.bootstrap(StreamLogHandler.standardError)  // the server's log; the conversation goes to stdout
do {
    let identity = try TLSIdentity.selfSigned()
    let serverContext = try TLSContext.server(identity: identity)
    var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
    configuration.policy.maxLineLength = maxLine
    configuration.policy.lineTimeout = .seconds(5)
    configuration.policy.drainPeriod = .seconds(5)
    let server = try Server(configuration: configuration) { try await serve($0, tls: serverContext) }
    try server.start()
    let port = server.localAddresses.first?.port ?? 0
    try Hub.run {
        try await send(to: port, trusting: identity)
        try await sayHelloWhileStopping(to: port, stop: server)
    }
    try server.waitUntilStopped()
    print("done")
} catch {
    print("smtp-example failed: \(error)")
    exit(1)
}
