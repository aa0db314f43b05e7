import Glibc
import Testing
@testable import GreenIO

/// Adversarial peers against a real `greenio serve` child process, plain and TLS, echo and RESP.
/// Every attack runs while a well-behaved client opened before it keeps getting correct replies;
/// afterwards that client, and one opened after the attack, must still be served
/// (`whileServingOthers`).
///
/// The tests measure time, memory, CPU and descriptors of the server process, so they run one at a
/// time, with generous bounds (the machine is shared and noisy).
@Suite("Adversarial serve", .serialized, .timeLimit(.minutes(1)))
struct AdversarialServeTests {
    /// The `--timeout` of the tests that wait for it.
    static let timeout = 1.0

    @Test("ADV-01 slowloris (1 byte per 100 ms, never a newline) is closed by --timeout", arguments: ServeFlavor.all)
    func slowloris(flavor: ServeFlavor) async throws {
        let server = try startServer(flavor.options + ["--timeout", "\(Self.timeout)"])
        defer { server.terminate() }
        try await onHub(limit: .seconds(40)) {
            let target = try await ServerUnderAttack(server, flavor)
            try await whileServingOthers(target) {
                let start = Deadline.now
                let attacker = try await target.attackerConnection()
                defer { attacker.close() }
                let peer = try logName(attacker)
                let what = flavor.resp ? "*2\r\n$4\r\nECHO\r\n$100\r\n" + String(repeating: "e", count: 100) : "slow line"
                var outcome = await dribble(attacker, bytes(what), within: .seconds(15))
                outcome.elapsed = seconds(since: start)  // the timeout counts from the connection
                #expect(outcome.closedByServer, "still open after \(outcome.elapsed) s: \(outcome.error ?? "")")
                #expect(outcome.elapsed > Self.timeout * 0.8 && outcome.elapsed < Self.timeout + 5,
                        "closed after \(outcome.elapsed) s, \(outcome.sent) bytes dribbled")
                // The echo says why; RESP closes an idle client without a reply, as Redis does.
                #expect(text(outcome.received) == (flavor.resp ? "" : "ERR timeout\n"))
                #expect(try await target.closeReason(of: peer) == "timeout")
            }
        }
    }

    @Test("ADV-02 a 20 MiB line without a newline above --max-line 65536: error reply, closed, server RSS bounded",
          arguments: ServeFlavor.all)
    func overlongLine(flavor: ServeFlavor) async throws {
        let server = try startServer(flavor.options + ["--max-line", "65536"])
        defer { server.terminate() }
        try await onHub(limit: .seconds(50)) {
            let target = try await ServerUnderAttack(server, flavor)
            let reply = flavor.resp ? "-ERR Protocol error: line longer than 65536 bytes\r\n" : "ERR line too long\n"
            let reason = flavor.resp ? "protocol error: line longer than 65536 bytes" : "line too long"
            try await floodAndMeasure(target, header: flavor.resp ? bytes("ECHO ") : [], reply: reply, reason: reason)
        }
    }

    @Test("ADV-03 a bulk string of 20 MiB above --max-bulk 65536: error reply, closed, server RSS bounded",
          arguments: [ServeFlavor.plainRESP, .tlsRESP])
    func overlongBulk(flavor: ServeFlavor) async throws {
        let server = try startServer(flavor.options + ["--max-bulk", "65536"])
        defer { server.terminate() }
        try await onHub(limit: .seconds(50)) {
            let target = try await ServerUnderAttack(server, flavor)
            try await floodAndMeasure(target, header: bytes("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$\(20 << 20)\r\n"),
                                      reply: "-ERR Protocol error: invalid bulk length\r\n",
                                      reason: "protocol error: invalid bulk length")
        }
    }

    /// Four attackers each try to send `header` and 20 MiB with no newline at once; each must get
    /// `reply` and be closed (logged with `reason`), and the server's peak RSS must stay far below
    /// what buffering the input would take.
    private func floodAndMeasure(_ target: ServerUnderAttack, header: [UInt8], reply: String, reason: String) async throws {
        let stats = target.stats
        try await whileServingOthers(target) {
            guard let hub = Hub.current else { return }
            let baseline = try stats.residentBytes()
            let attacks = (0..<4).map { _ in
                hub.spawn { () -> (PeerOutcome, String) in
                    let attacker = try await target.attackerConnection()
                    defer { attacker.close() }
                    let peer = try logName(attacker)
                    return (await flood(attacker, header: header, filler: 0x61, count: 20 << 20, within: .seconds(20)), peer)
                }
            }
            var mostSent = 0
            for attack in attacks {
                let (outcome, peer) = try await attack.value
                mostSent = max(mostSent, outcome.sent)
                #expect(outcome.closedByServer, "\(outcome.error ?? "still open")")
                #expect(outcome.sent < 20 << 20, "the server took all \(outcome.sent) bytes")
                #expect(text(outcome.received) == reply, "after \(outcome.sent) bytes sent: \(outcome.error ?? "")")
                #expect(try await target.closeReason(of: peer) == reason)
            }
            let peak = try stats.peakResidentBytes()
            let after = try stats.residentBytes()
            print("ADV RSS \(target.flavor.testDescription): at most \(mostSent) bytes of 20 MiB taken; baseline \(mebibytes(baseline)) MiB, peak \(mebibytes(peak)) MiB, after \(mebibytes(after)) MiB")
            // Buffering even one attacker's input would take 20 MiB; bounded reading takes well under 1.
            #expect(peak - baseline < 12 << 20, "RSS \(mebibytes(baseline)) → peak \(mebibytes(peak)) MiB")
        }
    }

    @Test("ADV-04 garbage instead of a TLS ClientHello: handshake failure logged, connection closed at once",
          arguments: [ServeFlavor.tlsEcho, .tlsRESP], GarbageHello.allCases)
    func garbageClientHello(flavor: ServeFlavor, garbage: GarbageHello) async throws {
        // A long --timeout: the failed handshake, not the timeout, must close the connection.
        let server = try startServer(flavor.options + ["--timeout", "30"])
        defer { server.terminate() }
        try await onHub(limit: .seconds(40)) {
            let target = try await ServerUnderAttack(server, flavor)
            try await whileServingOthers(target) {
                let attacker = try await target.rawConnection()
                defer { attacker.close() }
                let peer = try logName(attacker)
                try await attacker.sendAll(garbage.bytes)
                let outcome = await awaitServerClose(attacker, within: .seconds(10))
                #expect(outcome.closedByServer && outcome.elapsed < 5, "after \(outcome.elapsed) s: \(outcome.error ?? "")")
                let reason = try await target.closeReason(of: peer)
                #expect(reason.hasPrefix("tls handshake failed: "), "\(reason)")
            }
        }
    }

    @Test("ADV-05 a TLS handshake abandoned half way is closed by --timeout",
          arguments: [ServeFlavor.tlsEcho, .tlsRESP], AbandonedHandshake.allCases)
    func abandonedHandshake(flavor: ServeFlavor, abandon: AbandonedHandshake) async throws {
        let server = try startServer(flavor.options + ["--timeout", "\(Self.timeout)"])
        defer { server.terminate() }
        try await onHub(limit: .seconds(40)) {
            let target = try await ServerUnderAttack(server, flavor)
            let hello = try await captureClientHello()
            try await whileServingOthers(target) {
                let start = Deadline.now
                let attacker = try await target.rawConnection()
                defer { attacker.close() }
                let peer = try logName(attacker)
                var outcome: PeerOutcome
                switch abandon {
                case .halfClientHello:
                    try await attacker.sendAll(Array(hello[..<(hello.count / 2)]))
                    outcome = await awaitServerClose(attacker, within: .seconds(15))
                case .wholeClientHelloThenSilence:
                    try await attacker.sendAll(hello)
                    outcome = await awaitServerClose(attacker, within: .seconds(15))
                    // The server answered (ServerHello, a handshake record) and waited for the rest.
                    #expect(outcome.received.first == 0x16, "\(outcome.received.prefix(8))")
                case .dribbledClientHello:
                    outcome = await dribble(attacker, hello, within: .seconds(15))
                }
                let elapsed = seconds(since: start)
                #expect(outcome.closedByServer, "\(outcome.error ?? "still open")")
                #expect(elapsed > Self.timeout * 0.8 && elapsed < Self.timeout + 5, "closed after \(elapsed) s")
                #expect(try await target.closeReason(of: peer) == "tls handshake timed out")
            }
        }
    }

    @Test("ADV-06 close_notify, FIN or RST in the middle of a line: logged, the server carries on",
          arguments: AbruptCase.all)
    func abruptEndMidLine(abrupt: AbruptCase) async throws {
        let (flavor, ending) = (abrupt.flavor, abrupt.ending)
        let server = try startServer(flavor.options)
        defer { server.terminate() }
        try await onHub(limit: .seconds(40)) {
            let target = try await ServerUnderAttack(server, flavor)
            try await whileServingOthers(target) {
                let partial = flavor.resp ? "*2\r\n$4\r\nECHO\r\n$20\r\nhalf a bulk" : "half a line"
                let peer = try await runAbruptPeer(port: target.port, tls: flavor.tls, ending: ending, data: partial)
                let reason = try await target.closeReason(of: peer)
                #expect(abrupt.acceptableReasons.contains(reason), "\(reason)")
            }
        }
    }

    @Test("ADV-07 a client that never reads: the server's write times out under --timeout, without spinning",
          arguments: ServeFlavor.all)
    func neverReads(flavor: ServeFlavor) async throws {
        let timeout = 3.0  // longer than the 2 s stall window measured below
        let server = try startServer(flavor.options + ["--timeout", "\(timeout)"])
        defer { server.terminate() }
        try await onHub(limit: .seconds(50)) {
            let target = try await ServerUnderAttack(server, flavor)
            try await whileServingOthers(target) {
                let attacker = try await target.attackerConnection()
                defer { attacker.close() }
                let peer = try logName(attacker)
                let value = String(repeating: "r", count: 1000)
                let request = flavor.resp ? "*2\r\n$4\r\nECHO\r\n$1000\r\n\(value)\r\n" : value + "\n"
                let sent = try await floodWithoutReading(attacker, request: bytes(request))
                let stalled = Deadline.now
                let cpuBefore = try target.stats.cpuSeconds()
                try await Hub.sleep(for: .seconds(2))
                let cpu = try target.stats.cpuSeconds() - cpuBefore
                print("ADV CPU \(flavor.testDescription): \(sent) bytes sent before the stall; \(cpu) s CPU in the 2 s stall")
                #expect(cpu < 0.5, "the server used \(cpu) s of CPU in 2 s while stuck writing")
                let reason = try await target.closeReason(of: peer, within: .seconds(timeout + 8))
                let elapsed = seconds(since: stalled)
                #expect(reason == "timed out sending" || reason == "timeout", "\(reason)")
                #expect(elapsed < timeout + 6, "closed \(elapsed) s after the stall")
            }
        }
    }

    @Test("ADV-08 1,000 connections opened and dropped at once: the server stays up, its fds return to baseline",
          arguments: [ServeFlavor.plainEcho, .tlsEcho])
    func thousandDroppedConnections(flavor: ServeFlavor) async throws {
        let server = try startServer(flavor.options)
        defer { server.terminate() }
        try await onHub(limit: .seconds(55)) {
            let target = try await ServerUnderAttack(server, flavor)
            let hello = flavor.tls ? try await captureClientHello() : []
            try await whileServingOthers(target) {
                guard let hub = Hub.current else { return }
                let stats = target.stats
                let baseline = try stats.openDescriptorCount()
                let before = ServeLog(server.errorText())
                let connects = (0..<1000).map { _ in
                    hub.spawn { try await Socket.connect(host: "127.0.0.1", port: target.port, timeout: .timeout(.seconds(20))) }
                }
                var sockets: [Socket] = []
                for connect in connects { sockets.append(try await connect.value) }
                // Some start a handshake first; half are reset rather than closed.
                for (index, socket) in sockets.enumerated() {
                    if !hello.isEmpty && index % 3 == 0 { _ = try? await socket.send(hello) }
                    if index % 2 == 0 { try socket.setLinger(seconds: 0) }
                }
                let peak = try stats.openDescriptorCount()
                for socket in sockets { socket.close() }

                // Every connection the server accepted is logged as closed, and the descriptors are
                // all given back. (A connection dropped while the kernel still held it in the
                // listen backlog never reaches the server: it cannot be counted.)
                let deadline = Deadline.after(.seconds(15))
                var count = try stats.openDescriptorCount()
                var log = ServeLog(server.errorText())
                while !deadline.hasPassed {
                    count = try stats.openDescriptorCount()
                    log = ServeLog(server.errorText())
                    if count == baseline && log.openConnections == before.openConnections { break }
                    try await Hub.sleep(for: .milliseconds(50))
                }
                let accepted = log.opens - before.opens
                print("ADV FDS \(flavor.testDescription): baseline \(baseline), peak \(peak), after \(count); \(accepted) of 1000 accepted, all closed")
                #expect(count == baseline, "fds: baseline \(baseline), peak \(peak), now \(count)")
                #expect(log.openConnections == before.openConnections,
                        "\(log.opens - before.opens) opened, \(log.closes - before.closes) closed")
                #expect(accepted > 128, "only \(accepted) connections reached the server (its backlog is 128)")
                try target.expectRunning()
            }
        }
    }
}

/// Counts of the connection log lines of `greenio serve`.
struct ServeLog {
    let opens: Int
    let closes: Int

    init(_ log: String) {
        let lines = log.split(separator: "\n")
        opens = lines.count { $0.hasPrefix("open ") }
        closes = lines.count { $0.hasPrefix("close ") }
    }

    /// Connections logged as opened and not (yet) as closed.
    var openConnections: Int { opens - closes }
}

/// A server and how ADV-06 ends a connection to it: close_notify only where there is TLS.
struct AbruptCase: Sendable, CustomTestStringConvertible {
    var flavor: ServeFlavor
    var ending: AbruptEnding

    static let all = ServeFlavor.all.flatMap { flavor in
        AbruptEnding.allCases.filter { flavor.tls || $0 != .closeNotify }.map { AbruptCase(flavor: flavor, ending: $0) }
    }

    var testDescription: String { "\(flavor.testDescription), \(ending.rawValue)" }

    /// What the server may log as the reason the connection ended.
    var acceptableReasons: Set<String> {
        switch ending {
        case .closeNotify:
            return ["end of stream"]
        case .fin:
            // Over TLS a FIN without close_notify is a ragged EOF: OpenSSL then refuses to send the
            // echo of the pending line, and the echo session logs that as the error.
            return flavor.tls && !flavor.resp ? ["end of stream", "error: EOF occurred in violation of protocol"]
                                              : ["end of stream"]
        case .rst:
            return ["reset by peer"]
        }
    }
}

/// What ADV-04 sends instead of a ClientHello.
enum GarbageHello: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case randomBytes = "4 KiB of random bytes"
    case httpRequest = "a plain HTTP request"
    case oversizedRecord = "a handshake record header claiming 65,535 bytes"

    var testDescription: String { rawValue }

    var bytes: [UInt8] {
        switch self {
        case .randomBytes:
            var generator = SplitMix64(seed: 0xAD_0004)
            var garbage = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
            garbage[0] = 0  // no record type: OpenSSL must not wait for more of a plausible record
            return garbage
        case .httpRequest:
            return Array("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8)
        case .oversizedRecord:
            return [0x16, 0x03, 0x01, 0xFF, 0xFF] + [UInt8](repeating: 0x42, count: 1024)
        }
    }
}

/// How ADV-05 abandons the TLS handshake.
enum AbandonedHandshake: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case halfClientHello = "half of a real ClientHello"
    case wholeClientHelloThenSilence = "a whole ClientHello, then silence after the ServerHello"
    case dribbledClientHello = "a ClientHello dribbled 1 byte per 100 ms"

    var testDescription: String { rawValue }
}
