import Glibc
import Testing
@testable import GreenIO

// Chaos on the hub: many connections on several hubs (threads), each direction with a writer and a
// reader green thread going through a random layer (raw socket, SocketIO, BufferedReader /
// BufferedWriter) with random deadlines and socket timeouts, while chaos green threads cancel
// workers (of their own hub, or of another hub: another thread), close sockets and file objects,
// shut connections down and change timeouts, and the test's own task (not on any hub) cancels
// workers too. What must hold:
//
// - Every operation ends with a result or an error chaos explains (timed out, cancelled, closed,
//   the peer gone: end of stream, EPIPE, ECONNRESET, TLS EOF / TLS error), nothing else.
// - What a reader receives is the writer's byte pattern, in order, without a gap or a repeat (a
//   wake-up delivered to the wrong waiter, or twice, would show up here or as an error).
// - Every green thread ends once everything is closed (no hang), and the hub is empty afterwards:
//   no parked waiter, no registration, no timer.
// - No waiter is resumed twice or never: in debug builds the hub counts the waits it parks and
//   resumes, and asserts that a waiter is never installed while still parked; the counts must match
//   once the hub is idle.
// - No descriptor leaks. The process's descriptor count cannot tell (other suites run in parallel
//   in the same process, opening and closing descriptors), and descriptor numbers cannot either (a
//   closed number is reused at once by other tests). So the run records the identity (device,
//   inode) of every socket it creates, and at the end no open descriptor of the process may refer to
//   any of them; a socket's inode is not reused while it is open, and socket inode numbers are not
//   handed out again within a run. Each socket's own state (`fileDescriptor == -1`) is checked too.
//   No settling time is needed: a close through the hub closes the descriptor on the hub thread
//   before the closing call returns, and every hub has returned its report before the check.
//
// The seed is printed with the totals and in every failure; set GREENIO_CHAOS_SEED to replay a run's
// choices (the interleaving itself depends on timing and cannot be replayed exactly), and
// GREENIO_CHAOS_SECONDS to make the chaos phase longer.

@Suite("Hub chaos", .serialized)
struct HubChaosTests {
    @Test("Random cancels, closes and timeouts on many connections of three hubs", .timeLimit(.minutes(5)))
    func chaosAcrossHubs() async throws {
        let seed = chaosSeed()
        let seconds = chaosEnvironment("GREENIO_CHAOS_SECONDS").flatMap { Int($0) } ?? 3
        let shape = ChaosRun.Shape(duration: .seconds(seconds))
        let hubCount = 3
        print("HubChaos: seed \(seed) (replay with GREENIO_CHAOS_SEED=\(seed)), \(hubCount) hubs, \(seconds) s of chaos")

        var seeds = SplitMix64(seed: seed)
        let registry = ChaosRegistry(hubs: hubCount)
        var hubs: [Hub] = []
        defer { for hub in hubs { hub.stop() } }
        for n in 0..<hubCount { hubs.append(try Hub.startThread(name: "chaos-\(n)")) }
        let runs = hubs.enumerated().map { n, hub in
            ChaosRun(index: n, seed: seeds.next(), hub: hub, registry: registry, shape: shape)
        }
        let tasks = runs.map { run in run.hub.spawn { await run.run() } }

        // Cancellations from a thread that is no hub's: they reach the hubs through their inboxes.
        var rng = SplitMix64(seed: seed ^ 0x5EED_0FF0_4B0B)
        var offHubCancels = 0
        let end = ContinuousClock.now + shape.duration
        while ContinuousClock.now < end {
            try await Task.sleep(for: .milliseconds(Int.random(in: 10...60, using: &rng)))
            if let task = registry.randomTask(excluding: nil, using: &rng) {
                task.cancel()
                offHubCancels += 1
            }
        }

        var reports: [ChaosReport] = []
        for (n, task) in tasks.enumerated() {
            switch await hubResult(of: task, limit: .seconds(120)) {
            case .success(let report): reports.append(report)
            case .failure(let error): Issue.record("seed \(seed): hub \(n) did not finish its run (hang?): \(error)")
            }
        }
        for problem in reports.flatMap(\.problems) { Issue.record("seed \(seed): \(problem)") }

        let created = reports.flatMap(\.identities)
        let open = chaosOpenIdentities()
        let leaked = created.filter { open.contains($0) }
        #expect(leaked.isEmpty, "seed \(seed): \(leaked.count) of the run's \(created.count) sockets are still open")

        var total = reports.reduce(ChaosCounts()) { $0 + $1.counts }
        total.cancelsOffHub = offHubCancels
        print("HubChaos seed \(seed): \(total)")
        // Every socket of every connection was checked, and the chaos did happen (hundreds of each
        // event in a normal run; none at all would mean the test exercised nothing).
        #expect(created.count == 2 * total.connections, "seed \(seed): \(total)")
        #expect(total.connections == hubCount * (shape.socketPairs + shape.tcpPairs + shape.tlsPairs), "seed \(seed)")
        #expect(total.timeouts > 0 && total.cancellations > 0 && total.closedErrors > 0, "seed \(seed): \(total)")
        #expect(total.bytesRead > 0 && total.bytesWritten > 0, "seed \(seed): \(total)")
        #if DEBUG
        #expect(total.waitsParked == total.waitsResumed && total.waitsParked > 0, "seed \(seed): \(total)")
        #endif
    }
}

/// The value of an environment variable, or nil.
func chaosEnvironment(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

/// GREENIO_CHAOS_SEED (decimal, or hex with 0x), else a fresh random seed.
func chaosSeed() -> UInt64 {
    if let text = chaosEnvironment("GREENIO_CHAOS_SEED") {
        if text.hasPrefix("0x"), let value = UInt64(text.dropFirst(2), radix: 16) { return value }
        if let value = UInt64(text) { return value }
    }
    return UInt64.random(in: .min ... .max)
}
