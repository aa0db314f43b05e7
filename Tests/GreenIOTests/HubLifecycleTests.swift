import Glibc
import Testing
@testable import GreenIO

/// Starting and stopping hubs, spawning from other threads, offloading, and many green threads.
@Suite("Hub lifecycle", .timeLimit(.minutes(1)), .serialized)
struct HubLifecycleTests {
    // MARK: Hub.run

    @Test("Hub.run returns the body's value")
    func runReturnsValue() async throws {
        let (value, currentAfter) = try await hubOnNewThread(limit: .seconds(20)) { () -> (Int, Bool) in
            let value = try Hub.run { () -> Int in
                try await Hub.sleep(for: .milliseconds(10))
                return Hub.current == nil ? -1 : 42
            }
            return (value, Hub.current == nil)
        }
        #expect(value == 42)
        #expect(currentAfter, "the thread has no current hub once run returns")
    }

    @Test("Hub.run rethrows the body's error")
    func runRethrows() async throws {
        let result = await hubOutcome {
            try await hubOnNewThread(limit: .seconds(20)) {
                try Hub.run { () -> Int in
                    try await Hub.sleep(for: .milliseconds(10))
                    throw HubTestError(code: 7)
                }
            }
        }
        #expect(hubError(result) as? HubTestError == HubTestError(code: 7))
    }

    @Test("Hub.run cancels green threads still parked when the body returns")
    func runCancelsLeftovers() async throws {
        let (value, fates) = try await hubOnNewThread(limit: .seconds(20)) { () -> (Int, [String]) in
            let fates = HubTestBox<[String]>([])
            let value = try Hub.run { () -> Int in
                let hub = Hub.current!
                hub.spawn {
                    do {
                        try await Hub.sleep(for: .seconds(60))
                        fates.value.append("slept")
                    } catch is CancellationError {
                        fates.value.append("sleeper cancelled")
                    }
                }
                hub.spawn {
                    let (a, b) = hubRawSocketPair()
                    defer { hub.hubTestClose(a); hub.hubTestClose(b) }
                    do {
                        try await hub.wait(for: .read, on: a)
                        fates.value.append("woke")
                    } catch is CancellationError {
                        fates.value.append("waiter cancelled")
                    }
                }
                try await hubUntil { hub.statistics.fileDescriptorWaiters == 1 && hub.statistics.pendingTimers == 1 }
                return 5
            }
            return (value, fates.value.sorted())
        }
        #expect(value == 5)
        #expect(fates == ["sleeper cancelled", "waiter cancelled"])
    }

    @Test("Hub.run also cancels a green thread spawned while it shuts down")
    func runCancelsLateSpawn() async throws {
        let fates = try await hubOnNewThread(limit: .seconds(20)) { () -> [String] in
            let fates = HubTestBox<[String]>([])
            _ = try Hub.run { () -> Int in
                let hub = Hub.current!
                hub.spawn {
                    do {
                        try await Hub.sleep(for: .seconds(60))
                    } catch {
                        fates.value.append("first cancelled")
                        // Cleanup that starts another green thread while the hub winds down.
                        hub.spawn {
                            do {
                                try await Hub.sleep(for: .seconds(60))
                                fates.value.append("late slept")
                            } catch {
                                fates.value.append("late cancelled")
                            }
                        }
                        throw error
                    }
                }
                try await Hub.yield()
                return 0
            }
            return fates.value
        }
        #expect(fates == ["first cancelled", "late cancelled"])
    }

    // MARK: stop

    @Test("stop() cancels parked green threads and the hub thread finishes")
    func stopCancelsAndFinishes() async throws {
        let hub = try Hub.startThread(name: "hub-stop")
        let sleeper = hub.spawn { try await Hub.sleep(for: .seconds(60)) }
        let waiter = hub.spawn {
            let (a, b) = hubRawSocketPair()
            defer { hub.hubTestClose(a); hub.hubTestClose(b) }
            try await hub.wait(for: .read, on: a)
        }
        try await hubResult(of: hub.spawn {
            try await hubUntil { hub.statistics.fileDescriptorWaiters == 1 && hub.statistics.pendingTimers == 1 }
        }).get()
        #expect(!hub.hasFinished)
        hub.stop()
        #expect(hubIsCancellation(await hubResult(of: sleeper)))
        #expect(hubIsCancellation(await hubResult(of: waiter)))
        try await hubEventually { hub.hasFinished }
    }

    @Test("stop() also cancels a green thread spawned after it was requested")
    func stopCancelsLateSpawn() async throws {
        let hub = try Hub.startThread(name: "hub-stop-late")
        let late = try await hubResult(of: hub.spawn { () -> Task<Void, any Error> in
            hub.stop()
            return hub.spawn { try await Hub.sleep(for: .seconds(60)) }
        }).get()
        #expect(hubIsCancellation(await hubResult(of: late, limit: .seconds(5))))
        try await hubEventually { hub.hasFinished }
    }

    @Test("stop() from another thread right after spawn cancels the new green thread")
    func stopRightAfterForeignSpawn() async throws {
        for _ in 0..<20 {
            let hub = try Hub.startThread(name: "hub-stop-race")
            let sleeper = hub.spawn { try await Hub.sleep(for: .seconds(60)) }
            hub.stop()
            let result = await hubResult(of: sleeper, limit: .seconds(5))
            // It may never have started (then it is cancelled before its body runs) or have been
            // parked; either way it ends with CancellationError, never by sleeping 60 s.
            #expect(hubIsCancellation(result))
            try await hubEventually { hub.hasFinished }
        }
    }

    // MARK: spawn and offload

    @Test("spawn from a foreign thread runs the green thread on the hub thread")
    func spawnFromForeignThreads() async throws {
        let hub = try Hub.startThread(name: "hub-spawn")
        defer { hub.stop() }
        let hubThread = try await hubResult(of: hub.spawn { pthread_self() }).get()
        // From a task on the global executor.
        let fromTask = try await hubResult(of: hub.spawn { () -> (Bool, pthread_t) in
            try await Hub.sleep(for: .milliseconds(1))
            return (Hub.current === hub, pthread_self())
        }).get()
        // From a plain OS thread.
        let fromThread = try await hubOnNewThread(limit: .seconds(20)) { () -> Task<(Bool, pthread_t), any Error> in
            precondition(Hub.current == nil)
            return hub.spawn { (Hub.current === hub, pthread_self()) }
        }
        let viaThread = try await hubResult(of: fromThread).get()
        #expect(fromTask.0)
        #expect(pthread_equal(fromTask.1, hubThread) != 0)
        #expect(viaThread.0)
        #expect(pthread_equal(viaThread.1, hubThread) != 0)
    }

    @Test("spawning from several threads at once runs every green thread exactly once")
    func concurrentForeignSpawns() async throws {
        let hub = try Hub.startThread(name: "hub-spawn-many")
        defer { hub.stop() }
        let seen = HubTestBox<[Int]>([])  // touched only on the hub thread
        let perSpawner = 300
        @Sendable func spawnBatch(_ spawner: Int) -> [Task<Void, any Error>] {
            (0..<perSpawner).map { index in
                hub.spawn {
                    if index % 7 == 0 { try await Hub.yield() }
                    seen.value.append(spawner * perSpawner + index)
                }
            }
        }
        var spawners: [Task<[Task<Void, any Error>], Never>] = []
        for spawner in 0..<4 {
            spawners.append(Task.detached { spawnBatch(spawner) })
        }
        let fromThreads = try await withThrowingTaskGroup(of: [Task<Void, any Error>].self) { group in
            for spawner in 4..<6 {
                group.addTask { try await hubOnNewThread(limit: .seconds(20)) { spawnBatch(spawner) } }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        var tasks = fromThreads
        for spawner in spawners { tasks += await spawner.value }
        var failures = 0
        for task in tasks {
            if case .failure = await hubResult(of: task) { failures += 1 }
        }
        let all = try await hubResult(of: hub.spawn { seen.value.sorted() }).get()
        #expect(failures == 0)
        #expect(all == Array(0..<(6 * perSpawner)))
    }

    @Test("cancelling from another thread at any moment ends the green thread (200 rounds)")
    func cancelRaces() async throws {
        let hub = try Hub.startThread(name: "hub-cancel-race")
        defer { hub.stop() }
        var outcomes: [Bool] = []
        for round in 0..<200 {
            let task = hub.spawn {
                let (a, b) = hubRawSocketPair()
                defer { hub.hubTestClose(a); hub.hubTestClose(b) }
                if round % 2 == 0 { try await Hub.yield() }
                try await hub.wait(for: .read, on: a)
            }
            if round % 3 == 0 { await Task.yield() }
            task.cancel()
            outcomes.append(hubIsCancellation(await hubResult(of: task, limit: .seconds(5))))
        }
        let stats = try await hubResult(of: hub.spawn { hub.statistics }).get()
        #expect(outcomes.allSatisfy { $0 })
        #expect(stats.fileDescriptorWaiters == 0)
        #expect(stats.registeredDescriptors == 0)
        #expect(stats.greenThreads == 1)
    }

    @Test("Hub.offload runs work off the hub thread while the hub keeps running green threads")
    func offloadRunsElsewhere() async throws {
        let outcome = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let hubThread = pthread_self()
            let ticks = HubTestBox(0)
            let stop = HubTestBox(false)
            let ticker = hub.spawn {
                while !stop.value {
                    try await Hub.sleep(for: .milliseconds(5))
                    ticks.value += 1
                }
            }
            let before = ticks.value
            let (workThread, workHadHub) = await Hub.offload { () -> (pthread_t, Bool) in
                usleep(300_000)
                return (pthread_self(), Hub.current != nil)
            }
            let ticksDuring = ticks.value - before
            let backOnHub = Hub.current === hub && pthread_equal(pthread_self(), hubThread) != 0
            stop.value = true
            try await ticker.value
            return (pthread_equal(workThread, hubThread) != 0, workHadHub, ticksDuring, backOnHub)
        }
        let (ranOnHubThread, workHadHub, ticksDuring, backOnHub) = outcome
        #expect(!ranOnHubThread)
        #expect(!workHadHub)
        #expect(ticksDuring >= 2, "the hub ran other green threads during the offloaded work")
        #expect(backOnHub)
    }

    // MARK: Many green threads

    @Test("2000 socket pairs, 4000 green threads, 20 ping-pongs each, on one hub")
    func thousandsOfGreenThreads() async throws {
        let pairs = 2000
        let rounds = 20
        let outcome = try await onHub(limit: .seconds(50)) {
            let hub = Hub.current!
            let baseline = hub.statistics
            let roundTrips = HubTestBox(0)
            let echoed = HubTestBox(0)
            var tasks: [Task<Void, any Error>] = []
            tasks.reserveCapacity(2 * pairs)
            for index in 0..<pairs {
                let (a, b) = try Socket.pair()
                tasks.append(hub.spawn {
                    defer { a.close() }
                    for round in 0..<rounds {
                        let message = hubFixedMessage("\(index):\(round)")
                        try await a.sendAll(message)
                        let reply = try await hubReceive(exactly: message.count, from: a)
                        guard reply == message.reversed() else { throw HubTestError(code: index) }
                        roundTrips.value += 1
                    }
                })
                tasks.append(hub.spawn {
                    defer { b.close() }
                    for _ in 0..<rounds {
                        let data = try await hubReceive(exactly: hubFixedMessageLength, from: b)
                        try await b.sendAll(data.reversed())
                        echoed.value += 1
                    }
                    // The pinger closes after its last round: end of stream, nothing more.
                    let end = try await b.recv(1)
                    guard end.isEmpty else { throw HubTestError(code: -index) }
                })
            }
            var failures = 0
            for task in tasks {
                if case .failure = await task.result { failures += 1 }
            }
            return (failures, roundTrips.value, echoed.value, baseline, hub.statistics)
        }
        let (failures, roundTrips, echoed, baseline, after) = outcome
        #expect(failures == 0)
        #expect(roundTrips == pairs * rounds)
        #expect(echoed == pairs * rounds)
        #expect(after.greenThreads == baseline.greenThreads)
        #expect(after.registeredDescriptors == baseline.registeredDescriptors)
        #expect(after.fileDescriptorWaiters == 0)
        #expect(after.pendingTimers == 0)
    }
}

let hubFixedMessageLength = 12

/// `text` padded with dots to `hubFixedMessageLength` bytes.
func hubFixedMessage(_ text: String) -> [UInt8] {
    let raw = bytes(text)
    return raw + [UInt8](repeating: UInt8(ascii: "."), count: hubFixedMessageLength - raw.count)
}

/// Receives exactly `count` bytes; throws on a premature end of stream.
func hubReceive(exactly count: Int, from socket: Socket) async throws -> [UInt8] {
    var received: [UInt8] = []
    while received.count < count {
        let chunk = try await socket.recv(count - received.count)
        if chunk.isEmpty { throw IOError(.closed, "unexpected end of stream") }
        received += chunk
    }
    return received
}
