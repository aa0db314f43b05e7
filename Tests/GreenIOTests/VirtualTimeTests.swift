import Glibc
import GreenIO
import GreenIOTesting
import Testing

/// GreenIOTesting's virtual time: the hub's clock, autojump, advancing by hand, and real sockets
/// and TLS under it. Every assertion on time is exact; the real time a test may take is bounded.
@Suite("Virtual time", .serialized, .timeLimit(.minutes(1)))
struct VirtualTimeTests {
    @Test("a 120 s sleep takes exactly 120 s of virtual time and a fraction of that in real time")
    func sleepJumps() async throws {
        let realStart = ContinuousClock.now
        let elapsed = try await VirtualTime.run { time in
            try await Hub.sleep(for: .seconds(120))
            return time.elapsed
        }
        #expect(elapsed == .seconds(120))
        // Milliseconds when the machine is quiet; the bound leaves room for a test process whose
        // threads a busy CI machine starves for seconds (seen: 11.7 s) and is still far below 120 s.
        #expect(ContinuousClock.now - realStart < .seconds(40))
    }

    @Test("sleepers wake in deadline order, each at its own exact time")
    func sleepersInOrder() async throws {
        let woke = try await VirtualTime.run { time -> [Duration] in
            var order: [Duration] = []
            let hub = Hub.current!
            let tasks = [7, 3, 5].map { seconds in
                hub.spawn { () -> Duration in
                    try await Hub.sleep(for: .seconds(seconds))
                    return time.elapsed
                }
            }
            for task in tasks { order.append(try await task.value) }
            return order
        }
        #expect(woke == [.seconds(7), .seconds(3), .seconds(5)])
    }

    @Test("a socket's 30 s read timeout over a real socket pair fires at exactly 30 s; a line sent at 10 s arrives at 10 s")
    func socketTimeout() async throws {
        try await VirtualTime.run { time in
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(.timeout(.seconds(30)))
            let reader = try a.makeReader()
            let writer = Hub.current!.spawn {
                try await Hub.sleep(for: .seconds(10))
                try await b.sendAll(Array("hello\n".utf8))
            }
            #expect(try await reader.readLine() == Array("hello\n".utf8))
            #expect(time.elapsed == .seconds(10))
            try await writer.value
            await expectIOError(.timedOut) { _ = try await reader.readLine() }
            #expect(time.elapsed == .seconds(40))
        }
    }

    @Test("TLS over loopback TCP: the handshake and a 5-minute read timeout, exact; bytes in flight are never jumped over")
    func tlsTimeout() async throws {
        try await VirtualTime.run { time in
            let (client, server) = try await tlsPair(serverTimeout: .timeout(.seconds(300)))
            defer { client.close(); server.close() }
            #expect(time.elapsed == .zero, "the handshake waited for the kernel only")
            // A megabyte in 16 KiB pieces: every piece arrives without the clock moving.
            let block = tlsRandomBytes(1 << 20, seed: 7)
            let sender = Hub.current!.spawn { try await tlsSendAll(client, block) }
            #expect(try await tlsRecvExactly(server, block.count) == block)
            try await sender.value
            #expect(time.elapsed == .zero)
            let error = await tlsIOError { _ = try await tlsRecv(server, 10) }
            #expect(error?.kind == .timedOut)
            #expect(error?.message == "The read operation timed out")
            #expect(time.elapsed == .seconds(300))
        }
    }

    @Test("Docs/Testing.md's client example: a 30 s read timeout against a server that greets, then stalls for an hour")
    func clientReadTimeout() async throws {
        try await VirtualTime.run { time in
            let (client, server) = try Socket.pair()
            defer { client.close(); server.close() }
            try client.setTimeout(.timeout(.seconds(30)))
            let reader = try client.makeReader()
            let peer = time.hub.spawn {
                try await server.sendAll(Array("220 ready\r\n".utf8))
                try await Hub.sleep(for: .seconds(3600))
            }
            #expect(try await reader.readLine() == Array("220 ready\r\n".utf8))
            await #expect(throws: IOError.self) { try await reader.readLine() }
            #expect(time.elapsed == .seconds(30))
            peer.cancel()
        }
    }

    @Test("by hand (no autojump): a sleeper wakes only once the clock is advanced past its deadline")
    func advanceByHand() async throws {
        try await VirtualTime.run(autojumpThreshold: nil) { time in
            let sleeper = Hub.current!.spawn { () -> Duration in
                try await Hub.sleep(for: .seconds(5))
                return time.elapsed
            }
            try await Hub.yield()  // the sleeper starts and sets its deadline: 5 s from 0
            try time.advance(by: .seconds(4))
            for _ in 0..<10 { try await Hub.yield() }
            #expect(time.elapsed == .seconds(4))
            try time.advance(by: .seconds(1))
            #expect(try await sleeper.value == .seconds(5))
            try time.advance(by: .seconds(-3))
            #expect(time.elapsed == .seconds(5), "the clock never goes back")
        }
    }

    @Test("advance off the hub's thread is refused")
    func advanceOffHub() async throws {
        let time = try VirtualTime()
        defer { time.stop() }
        #expect(throws: IOError.self) { try time.advance(by: .seconds(1)) }
    }

    @Test("the clock does not jump while work is out in the blocking pool")
    func offloadHoldsTheClock() async throws {
        try await VirtualTime.run { time in
            let timer = Hub.current!.spawn { () -> Duration in
                try await Hub.sleep(for: .seconds(1))
                return time.elapsed
            }
            _ = await Hub.offload { usleep(100_000) }
            #expect(time.elapsed == .zero, "the 1 s timer did not fire during 100 ms of real work")
            let woke = try await timer.value
            #expect(woke == .seconds(1))
        }
    }

    @Test("a green thread that never finishes fails the run after its real-time limit")
    func realTimeLimit() async throws {
        await #expect(throws: VirtualTime.RealTimeLimitExceeded.self) {
            try await VirtualTime.run(autojumpThreshold: nil, limit: .milliseconds(300)) { _ in
                try await Hub.sleep(for: .seconds(1))
            }
        }
    }
}
