import Glibc
import Testing
@testable import GreenIO

// Helpers for AdversarialServeTests: which server is attacked, what /proc says about it, and the
// well-behaved clients that must keep being served while it is attacked.

/// A failed expectation inside a helper, thrown so that the test stops with a readable message.
struct AdversarialFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Which `greenio serve` an adversarial test attacks: plain or TLS, line echo or RESP.
struct ServeFlavor: Sendable, CustomTestStringConvertible {
    var tls: Bool
    var resp: Bool

    static let plainEcho = ServeFlavor(tls: false, resp: false)
    static let tlsEcho = ServeFlavor(tls: true, resp: false)
    static let plainRESP = ServeFlavor(tls: false, resp: true)
    static let tlsRESP = ServeFlavor(tls: true, resp: true)
    static let all = [plainEcho, tlsEcho, plainRESP, tlsRESP]

    /// The `serve` options that select this flavour.
    var options: [String] { (resp ? ["--protocol", "resp"] : []) + (tls ? ["--tls"] : []) }

    var testDescription: String { "\(tls ? "TLS" : "plain") \(resp ? "resp" : "echo")" }
}

// MARK: /proc

/// What Linux's /proc says about a process: memory, CPU time and open descriptors.
struct ProcessStats {
    let pid: pid_t

    /// A `kB` field of /proc/PID/status ("VmRSS", "VmHWM"), in bytes.
    func statusBytes(_ field: String) throws -> Int {
        guard let value = statusField(field, pid: pid),
              let kib = Int(value.split(whereSeparator: \.isWhitespace).first ?? "") else {
            throw AdversarialFailure("no \(field) in /proc/\(pid)/status")
        }
        return kib * 1024
    }

    /// The resident set size now.
    func residentBytes() throws -> Int { try statusBytes("VmRSS") }

    /// The largest resident set size the process has had (its high-water mark).
    func peakResidentBytes() throws -> Int { try statusBytes("VmHWM") }

    /// User plus system CPU time, in seconds (/proc/PID/stat fields 14 and 15).
    func cpuSeconds() throws -> Double {
        guard let seconds = processCPUSeconds(pid: pid) else { throw AdversarialFailure("cannot read /proc/\(pid)/stat") }
        return seconds
    }

    /// True while the process exists and is not a zombie.
    var isRunning: Bool {
        guard let stat = readTextFile("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].split(separator: " ").first
        return state != "Z" && state != "X"
    }

    /// How many descriptors the process has open (entries of /proc/PID/fd).
    func openDescriptorCount() throws -> Int {
        guard let count = openFileDescriptorCount(pid: pid) else {
            throw AdversarialFailure("cannot list /proc/\(pid)/fd: \(Errno.current)")
        }
        return count
    }
}

/// One MiB, for readable figures.
func mebibytes(_ bytes: Int) -> Double { Double(bytes) / 1_048_576 }

// MARK: The server under attack

/// A running `greenio serve` of some flavour and the port it listens on. Make it on a hub.
struct ServerUnderAttack: Sendable {
    let process: ChildProcess
    let flavor: ServeFlavor
    let port: Int

    /// Reads the start line of `process`, a server started with `flavor.options`.
    init(_ process: ChildProcess, _ flavor: ServeFlavor) async throws {
        self.process = process
        self.flavor = flavor
        port = try await servePort(process, tls: flavor.tls)
    }

    var stats: ProcessStats { ProcessStats(pid: process.pid) }

    /// Opens a well-behaved client connection.
    func wellBehavedClient() async throws -> WellBehavedClient {
        try await WellBehavedClient.connect(port: port, flavor: flavor)
    }

    /// Opens a raw connection for an attack: a plain socket, not TLS even on a TLS server.
    func rawConnection() async throws -> Socket {
        try await connectToServer(port: port)
    }

    /// Opens the attacker's connection: plain, or TLS (handshake done) on a TLS server.
    func attackerConnection() async throws -> any RawSocket {
        flavor.tls ? try await connectTLS(port: port, verification: .insecureNoVerification)
                   : try await connectToServer(port: port)
    }

    /// Waits until the server has logged the end of the connection from `peer` and returns the
    /// reason it gave ("end of stream", "timeout", …).
    /// - Throws: `IOError` `.timedOut` if it has not within `limit`.
    func closeReason(of peer: String, within limit: Duration = .seconds(10)) async throws -> String {
        let marker = "close \(peer) ("
        try await process.waitForErrorOutput(containing: marker, deadline: .after(limit))
        let log = process.errorText()
        // The last one: a port may have served an earlier connection of the same server.
        guard let start = log.ranges(of: marker).last else { return "" }
        let rest = log[start.upperBound...]
        let line = rest.prefix { $0 != "\n" }
        return String(line.hasSuffix(")") ? line.dropLast() : line)
    }

    /// Throws unless the server process still runs.
    func expectRunning() throws {
        guard stats.isRunning else {
            throw AdversarialFailure("the server is gone; stderr: \(process.errorText().suffix(2000))")
        }
    }
}

/// The local address of an IPv4 connection as the server's log lines name its peer
/// ("127.0.0.1:50312"); the tests connect to 127.0.0.1 only.
func logName(_ connection: any RawSocket) throws -> String {
    var address = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let result = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(connection.fileDescriptor, $0, &length) }
    }
    guard result == 0 else { throw IOError.system(.current) }
    guard address.ss_family == sa_family_t(AF_INET) else { throw AdversarialFailure("not an IPv4 connection") }
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            var host = pointer.pointee.sin_addr
            _ = inet_ntop(AF_INET, &host, &text, socklen_t(text.count))
            let name = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return "\(name):\(UInt16(bigEndian: pointer.pointee.sin_port))"
        }
    }
}

// MARK: Well-behaved clients

/// A well-behaved client: one connection (plain or TLS) on which each round trip sends one line, or
/// one `ECHO` command to a RESP server, and checks that the reply is exactly what it must be.
final class WellBehavedClient: @unchecked Sendable {
    let connection: any RawSocket
    let flavor: ServeFlavor
    private var sequence = 0

    private init(connection: any RawSocket, flavor: ServeFlavor) {
        self.connection = connection
        self.flavor = flavor
    }

    static func connect(port: Int, flavor: ServeFlavor) async throws -> WellBehavedClient {
        let connection: any RawSocket = flavor.tls
            ? try await connectTLS(port: port, verification: .insecureNoVerification)
            : try await connectToServer(port: port)
        return WellBehavedClient(connection: connection, flavor: flavor)
    }

    /// Sends a fresh message and checks its reply.
    /// - Throws: `AdversarialFailure` for a wrong or short reply; `IOError` (`.timedOut` after `limit`).
    func roundTrip(within limit: Duration = .seconds(5)) async throws {
        sequence += 1
        let word = "good-\(sequence)-" + String(repeating: "w", count: sequence % 40)
        let (request, reply) = flavor.resp
            ? ("*2\r\n$4\r\nECHO\r\n$\(word.utf8.count)\r\n\(word)\r\n", "$\(word.utf8.count)\r\n\(word)\r\n")
            : (word + "\n", word + "\n")
        let deadline = Deadline.after(limit)
        try await connection.sendAll(bytes(request), deadline: deadline)
        let received = try await receiveExactly(connection, count: reply.utf8.count, deadline: deadline)
        guard received == bytes(reply) else {
            throw AdversarialFailure("round trip \(sequence): sent \(request.debugDescription), got \(text(received).debugDescription)")
        }
    }

    func close() { connection.close() }
}

/// Receives `count` bytes from any socket (fewer only if the stream ends first).
func receiveExactly(_ socket: any RawSocket, count: Int, deadline: Deadline) async throws -> [UInt8] {
    var received: [UInt8] = []
    while received.count < count {
        guard let chunk = try await receiveChunk(socket, upTo: count - received.count, deadline: deadline) else { break }
        received += chunk
    }
    return received
}

/// One receive of at most `limit` bytes from any socket; nil at the end of the stream.
func receiveChunk(_ socket: any RawSocket, upTo limit: Int = 65536, deadline: Deadline) async throws -> [UInt8]? {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: min(limit, 65536), alignment: 1)
    defer { buffer.deallocate() }
    while true {
        // Blocking and timeout modes never give `.wouldBlock`; a non-blocking socket is polled.
        guard case .completed(let n) = try await socket.receive(into: buffer, deadline: deadline) else {
            try await Hub.sleep(for: .milliseconds(5))
            continue
        }
        return n == 0 ? nil : Array(buffer[..<n])
    }
}

/// A well-behaved client kept busy on its own green thread, one round trip every `interval`,
/// while an attack runs. `finish()` stops it and says how it went.
final class BusyClient: @unchecked Sendable {
    let client: WellBehavedClient
    private var stopping = false
    private var rounds = 0
    private var failure: String?
    private var loop: Task<Void, any Error>?

    /// Starts the round trips on the calling green thread's hub.
    init(_ client: WellBehavedClient, interval: Duration = .milliseconds(100)) throws {
        self.client = client
        guard let hub = Hub.current else { throw IOError(.notOnHub, "BusyClient needs a hub") }
        loop = hub.spawn { [self] in
            while !stopping {
                do {
                    try await client.roundTrip()
                    rounds += 1
                } catch {
                    failure = "after \(rounds) round trips: \(error)"
                    return
                }
                try await Hub.sleep(for: interval)
            }
        }
    }

    /// Stops the round trips (letting the current one finish), then does one more.
    /// - Returns: how many round trips succeeded; throws the first failure.
    func finish() async throws -> Int {
        stopping = true
        _ = try? await loop?.value
        if let failure { throw AdversarialFailure("the well-behaved client failed during the attack, \(failure)") }
        try await client.roundTrip()
        return rounds + 1
    }
}

/// Runs `attack` against `server` while a well-behaved client opened before it keeps round
/// tripping; then checks that this client still gets correct replies, that one opened after the
/// attack does too, and that the server still runs.
/// - Returns: what `attack` returned.
func whileServingOthers<T>(_ server: ServerUnderAttack, _ attack: () async throws -> T) async throws -> T {
    let before = try await server.wellBehavedClient()
    defer { before.close() }
    try await before.roundTrip()
    let busy = try BusyClient(before)
    let result: T
    do {
        result = try await attack()
    } catch {
        _ = try? await busy.finish()
        throw error
    }
    let rounds = try await busy.finish()
    #expect(rounds >= 2, "the well-behaved client made only \(rounds) round trips")
    let after = try await server.wellBehavedClient()
    defer { after.close() }
    try await after.roundTrip()
    try await after.roundTrip()
    try server.expectRunning()
    return result
}
