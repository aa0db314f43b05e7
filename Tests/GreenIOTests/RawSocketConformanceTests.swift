import Glibc
import Testing
import GreenIO
import GreenIOTesting

// The RawSocket conformance kit: GreenIO's sockets pass it, and each check catches the bug made
// for it (and no other check does).

@Suite("RawSocket conformance: GreenIO's sockets", .serialized, .timeLimit(.minutes(1)))
struct RawSocketConformanceTests {
    /// Virtual time for the checks' hubs: their timeouts take no real time.
    static let virtual = RawSocketConformance.Traits(clock: .virtual(autojumpThreshold: VirtualTime.defaultAutojumpThreshold))

    // TCP runs on both clocks: the real one is the cross-check of the virtual one.
    @Test("TCP sockets conform, on the real clock and on virtual time", arguments: [false, true])
    func plainTCPSocketsConform(virtual: Bool) async {
        let report = await RawSocketConformance.run(traits: virtual ? Self.virtual : RawSocketConformance.Traits()) {
            let (client, server) = try await tcpPair()
            return (client, server)
        }
        #expect(report.failedChecks == [], "\(report)")
        #expect(report.results.count == RawSocketConformance.Check.allCases.count)
    }

    @Test func unixSocketPairsConform() async {
        let report = await RawSocketConformance.run(traits: Self.virtual) {
            let (a, b) = try Socket.pair()
            return (a, b)
        }
        #expect(report.failedChecks == [], "\(report)")
    }

    @Test func tlsSocketsConform() async {
        // The server first: the checks close the first socket to end the stream, and a TLS 1.3
        // client may hold unread session tickets (its close would be a reset).
        // TCP_NODELAY: on virtual time nothing may wait for real time, and Nagle's algorithm holds
        // a small record until the peer's delayed ACK (about 40 ms).
        let report = await RawSocketConformance.run(traits: .tls(clock: .virtual(autojumpThreshold: VirtualTime.defaultAutojumpThreshold))) {
            let (client, server) = try await tlsPair { plainClient, plainServer in
                try plainClient.setOption(.noDelay, true)
                try plainServer.setOption(.noDelay, true)
            }
            return (server, client)
        }
        #expect(report.failedChecks == [], "\(report)")
    }

    @Test func scriptedSocketsConform() async {
        let report = await RawSocketConformance.run(traits: Self.virtual) {
            let (a, b) = try ScriptedSocket.pair(aToB: Script(chunkSize: 3000, sendWindow: 100_000),
                                                 bToA: Script(sendWindow: 70_000))
            return (a, b)
        }
        #expect(report.failedChecks == [], "\(report)")
    }

    @Test func aPairMakerThatThrowsFailsEveryCheckWithItsError() async {
        struct NoTransport: Error {}
        let report = await RawSocketConformance.run([.roundTrip, .halfClose]) { throw NoTransport() }
        #expect(report.failedChecks == [.roundTrip, .halfClose])
        #expect(report.result(for: .roundTrip)?.failures.first?.contains("NoTransport") == true)
    }

    @Test func aCheckThatOutlivesItsLimitIsCancelledAndFailed() async {
        let traits = RawSocketConformance.Traits(checkTimeLimit: .milliseconds(300))
        let start = ContinuousClock.now
        let report = await RawSocketConformance.run([.roundTrip], traits: traits) {
            try await Hub.sleep(for: .seconds(30))
            let (a, b) = try ScriptedSocket.pair()
            return (a, b)
        }
        #expect(report.failedChecks == [.roundTrip])
        #expect(report.result(for: .roundTrip)?.failures.joined().contains("did not finish") == true)
        #expect(secondsSince(start) < 10)
    }
}

@Suite("RawSocket conformance: each check catches its bug", .serialized, .timeLimit(.minutes(1)))
struct RawSocketConformanceFlawTests {
    @Test(arguments: RawSocketConformance.Check.allCases)
    func exactlyTheFlawedCheckFails(_ flaw: RawSocketConformance.Check) async {
        let report = await RawSocketConformance.run(traits: RawSocketConformanceTests.virtual) {
            let (a, b) = try FlawedSocket.pair(flaw)
            return (a, b)
        }
        #expect(report.failedChecks == [flaw], "\(report)")
    }
}
