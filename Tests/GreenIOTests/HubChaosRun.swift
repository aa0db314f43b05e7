import Glibc
import Testing
@testable import GreenIO

/// What one hub's chaos run hands back to the test.
struct ChaosReport: Sendable {
    var counts: ChaosCounts
    /// Everything that went wrong, one message each (the test fails on any).
    var problems: [String]
    /// The (device, inode) of every socket the run created.
    var identities: [[UInt64]]
}

/// One hub's share of the chaos test: connections (socket pairs, TCP pairs, TLS pairs), a reader
/// and a writer green thread per direction, and chaos green threads that cancel, close, shut down
/// and change timeouts at random while the workers run with random deadlines.
///
/// Everything here runs on the hub's thread (green threads of one hub take turns), so the state
/// needs no lock; the class is `@unchecked Sendable` only to be captured by `Hub.spawn`.
final class ChaosRun: @unchecked Sendable {
    struct Shape: Sendable {
        var socketPairs = 6
        var tcpPairs = 2
        var tlsPairs = 2
        var chaosThreads = 2
        var duration: Duration = .seconds(3)
    }

    let index: Int
    let seed: UInt64
    let hub: Hub
    let registry: ChaosRegistry
    let shape: Shape
    var rng: SplitMix64
    var counts = ChaosCounts()
    var problems: [String] = []
    var identities: [[UInt64]] = []
    var sides: [ChaosSide] = []
    var streams: [(name: String, stream: ChaosStream, tls: Bool)] = []
    /// Reader and writer green threads (chaos cancels these).
    var workers: [Task<Void, any Error>] = []
    /// Background closes of buffered writers (a close flushes, which may wait).
    var closers: [Task<Void, any Error>] = []
    /// Workers and closers still running, and what each worker is doing (for a hang report).
    var live = 0
    var chaosLive = 0
    var activity: [String: String] = [:]
    /// Set when the chaos phase ends: workers and chaos threads stop at their next turn.
    var phaseOver = false

    init(index: Int, seed: UInt64, hub: Hub, registry: ChaosRegistry, shape: Shape) {
        self.index = index
        self.seed = seed
        self.hub = hub
        self.registry = registry
        self.shape = shape
        rng = SplitMix64(seed: seed)
    }

    func problem(_ text: String) { problems.append("hub \(index) (seed \(seed)): \(text)") }

    func random(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }

    func chance(_ percent: Int) -> Bool { random(0...99) < percent }

    // MARK: The run

    /// Builds the connections, lets chaos run for `shape.duration`, closes everything, waits for
    /// every green thread, and checks what is left. Runs as a green thread of `hub`.
    func run() async -> ChaosReport {
        do {
            try await connect()
        } catch {
            problem("setting up the connections failed: \(error)")
        }
        for n in 0..<shape.chaosThreads {
            chaosLive += 1
            hub.spawn { [self] in
                defer { chaosLive -= 1 }
                await chaos(name: "chaos \(n)")
            }
        }
        _ = await hubOutcome { try await Hub.sleep(for: shape.duration) }
        phaseOver = true
        await finish()
        return ChaosReport(counts: counts, problems: problems, identities: identities)
    }

    private func connect() async throws {
        for n in 0..<shape.socketPairs {
            let (a, b) = try Socket.pair()
            addConnection("pair\(n)", a, b, tls: nil)
        }
        for n in 0..<shape.tcpPairs {
            let (a, b) = try await tcpPair()
            addConnection("tcp\(n)", a, b, tls: nil)
        }
        for n in 0..<shape.tlsPairs {
            // Wrapping moves the descriptor to a new plain socket inside the TLS socket: record the
            // identities before.
            let (client, server) = try await tlsPair(configure: { record("tls\(n)", [$0, $1]) })
            addConnection("tls\(n)", client.socket, server.socket, tls: (client, server))
            counts.tlsConnections += 1
        }
    }

    private func record(_ name: String, _ sockets: [Socket]) {
        for socket in sockets {
            if let identity = chaosIdentity(socket) { identities.append(identity) } else {
                problem("\(name): no identity for a new socket")
            }
        }
    }

    private func addConnection(_ name: String, _ a: Socket, _ b: Socket, tls: (TLSSocket, TLSSocket)?) {
        counts.connections += 1
        if tls == nil { record(name, [a, b]) }
        let sideA = ChaosSide(name: "\(name).A", plain: a, tls: tls?.0)
        let sideB = ChaosSide(name: "\(name).B", plain: b, tls: tls?.1)
        for side in [sideA, sideB] {
            do {
                try side.setTimeout(randomTimeoutMode())
                side.readLayer = try makeReadLayer(side.socket)
                side.writeLayer = try makeWriteLayer(side.socket)
            } catch {
                problem("\(side.name): making file objects failed: \(error)")
            }
            sides.append(side)
        }
        for (from, to) in [(sideA, sideB), (sideB, sideA)] {
            let stream = ChaosStream()
            let label = "\(from.name)→\(to.name)"
            streams.append((label, stream, tls != nil))
            spawnWorker("\(label) writer") { run, name in await run.writeLoop(from, stream, name: name) }
            spawnWorker("\(label) reader") { run, name in await run.readLoop(to, stream, name: name) }
        }
    }

    private func randomTimeoutMode() -> TimeoutMode {
        chance(50) ? .blocking : .timeout(.milliseconds(random(5...300)))
    }

    private func makeReadLayer(_ socket: any RawSocket) throws -> ChaosReadLayer {
        switch random(0...2) {
        case 0: return .raw
        case 1:
            let io = try socket.makeSocketIO(mode: "rb")
            io.timeoutPolicy = .resumable
            return .socketIO(io)
        default:
            let reader = try socket.makeReader(bufferSize: [1, 7, 512, 8192].randomElement(using: &rng) ?? 8192)
            reader.timeoutPolicy = .resumable
            return .buffered(reader)
        }
    }

    private func makeWriteLayer(_ socket: any RawSocket) throws -> ChaosWriteLayer {
        switch random(0...2) {
        case 0: return .raw
        case 1: return .socketIO(try socket.makeSocketIO(mode: "wb"))
        default: return .buffered(try socket.makeWriter(bufferSize: [1, 64, 4096, 65536].randomElement(using: &rng) ?? 8192))
        }
    }

    private func spawnWorker(_ name: String, _ body: @escaping @Sendable (ChaosRun, String) async -> Void) {
        live += 1
        let task = hub.spawn { [self] in
            defer {
                live -= 1
                activity[name] = nil
            }
            await body(self, name)
        }
        workers.append(task)
        registry.add(task, hub: index)
    }

    // MARK: Workers

    /// A random deadline for one operation: none, or soon (so that deadlines fire often).
    private func randomDeadline() -> Deadline? {
        chance(35) ? nil : .after(.milliseconds(random(1...80)))
    }

    /// Books an operation's error; true if the worker goes on (only after a timeout).
    private func book(_ error: any Error, tls: Bool, in operation: String) -> Bool {
        switch chaosEnding(of: error, tls: tls) {
        case .timedOut:
            counts.timeouts += 1
            return true
        case .cancelled: counts.cancellations += 1
        case .closed: counts.closedErrors += 1
        case .peerGone: counts.peerGone += 1
        case nil: problem("\(operation): unexpected \(type(of: error)): \(error)")
        }
        return false
    }

    /// Gives the other green threads a turn between operations (an operation served from a buffer
    /// does not wait). False if the worker was cancelled.
    private func pause(tls: Bool, _ name: String) async -> Bool {
        do {
            if chance(20) { try await Hub.sleep(for: .milliseconds(random(1...5))) } else { try await Hub.yield() }
            return true
        } catch {
            return book(error, tls: tls, in: "\(name) pause")
        }
    }

    /// Runs `operation` in the green thread itself or, for a quarter of the workers, in a child
    /// task: the hub did not spawn a child, so its waits take the per-wait cancellation handler path
    /// (a handler that may run on another thread and post the cancellation to the hub).
    private func perform<T: Sendable>(viaChild: Bool, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        guard viaChild else { return try await operation() }
        return try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await operation() }
            guard let result = try await group.next() else { throw ChaosUnexpected("the child task gave no result") }
            return result
        }
    }

    func readLoop(_ side: ChaosSide, _ stream: ChaosStream, name: String) async {
        let tls = side.tls != nil
        let viaChild = chance(25)
        while !phaseOver {
            counts.operations += 1
            let deadline = randomDeadline()
            do {
                if try await perform(viaChild: viaChild, { try await self.readOnce(side, stream, deadline: deadline, name: name) }) == 0 {
                    counts.peerGone += 1  // end of stream: the peer shut down or closed
                    return
                }
            } catch {
                if !book(error, tls: tls, in: "\(name) (\(activity[name] ?? "?"))") { return }
            }
            if !(await pause(tls: tls, name)) { return }
        }
    }

    /// One read through the side's layer; the count of bytes it consumed (0: end of stream).
    func readOnce(_ side: ChaosSide, _ stream: ChaosStream, deadline: Deadline?, name: String) async throws -> Int {
        let count = chance(70) ? random(1...512) : random(513...65536)
        let got: [UInt8]?
        switch side.readLayer {
        case .raw, .socketIO:
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 1)
            defer { buffer.deallocate() }
            let n: Int?
            if case .socketIO(let io) = side.readLayer {
                activity[name] = "SocketIO.readInto(\(count))"
                n = try await io.readInto(buffer, deadline: deadline)
            } else {
                activity[name] = "receive(\(count))"
                switch try await side.socket.receive(into: buffer, deadline: deadline) {
                case .completed(let k): n = k
                case .wouldBlock: n = nil
                }
            }
            got = n.map { Array(buffer[0..<$0]) }
        case .buffered(let reader):
            switch random(0...3) {
            case 0:
                activity[name] = "read1(\(count))"
                got = try await reader.read1(count, deadline: deadline)
            case 1:
                activity[name] = "read(\(count))"
                got = try await reader.read(count, deadline: deadline)
            case 2:
                activity[name] = "readLine(limit: \(count))"
                got = try await reader.readLine(limit: count, deadline: deadline)
            default:
                activity[name] = "peek(\(count))"
                guard let peeked = try await reader.peek(count, deadline: deadline) else {
                    throw ChaosUnexpected("peek returned nil (would block) in a waiting mode")
                }
                stream.peeked(peeked)
                return peeked.count
            }
        }
        guard let got else { throw ChaosUnexpected("read returned nil (would block) in a waiting mode") }
        got.withUnsafeBytes { stream.receive($0) }
        counts.bytesRead += got.count
        return got.count
    }

    func writeLoop(_ side: ChaosSide, _ stream: ChaosStream, name: String) async {
        let tls = side.tls != nil
        let viaChild = chance(25)
        while !phaseOver && !stream.writerStopped {
            counts.operations += 1
            let deadline = randomDeadline()
            do {
                try await perform(viaChild: viaChild, { try await self.writeOnce(side, stream, deadline: deadline, name: name) })
            } catch {
                if !book(error, tls: tls, in: "\(name) (\(activity[name] ?? "?"))") { return }
            }
            if !(await pause(tls: tls, name)) { return }
        }
    }

    /// One write (or flush) through the side's layer. Advances `stream.written` by exactly what
    /// the layer accepted; stops the stream's writer when that cannot be known.
    func writeOnce(_ side: ChaosSide, _ stream: ChaosStream, deadline: Deadline?, name: String) async throws {
        let count = chance(85) ? random(1...2048) : random(2049...chaosMaximumWrite)
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 1)
        defer { chunk.deallocate() }
        chaosPattern(from: stream.written, into: chunk)
        let bytes = UnsafeRawBufferPointer(chunk)
        let tls = side.tls != nil
        var isFlush = false
        do {
            let accepted: Int?
            switch side.writeLayer {
            case .raw:
                activity[name] = "send(\(count))"
                switch try await side.socket.send(bytes, deadline: deadline) {
                case .completed(let n): accepted = n
                case .wouldBlock: accepted = nil
                }
            case .socketIO(let io):
                activity[name] = "SocketIO.write(\(count))"
                accepted = try await io.write(bytes, deadline: deadline)
            case .buffered(let writer):
                if chance(20) {
                    isFlush = true
                    activity[name] = "flush"
                    try await writer.flush(deadline: deadline)
                    return  // flushed bytes were counted when they were accepted
                }
                activity[name] = "BufferedWriter.write(\(count))"
                accepted = try await writer.write(bytes, deadline: deadline)
            }
            guard let accepted else { throw ChaosUnexpected("write returned nil (would block) in a waiting mode") }
            stream.written += accepted
            counts.bytesWritten += accepted
        } catch let error as IOError where error.kind == .timedOut && !tls {
            // A plain raw send that timed out sent nothing; a buffered write says how much of the
            // call it took (a flush's bytes were counted when accepted).
            if case .buffered = side.writeLayer, !isFlush {
                if let n = error.bytesTransferred {
                    stream.written += n
                    counts.bytesWritten += n
                } else {
                    stream.writerStopped = true
                    stream.stopReason = "\(activity[name] ?? "?"): \(error) without a count"
                    stream.uncertainBytes = count
                }
            }
            throw error
        } catch {
            // TLS after any error (a timed-out TLS write breaks the stream for good), and any other
            // error: how much went out is not known exactly.
            stream.writerStopped = true
            stream.stopReason = "\(activity[name] ?? "?") via \(side.writeLayer): \(error)"
            stream.uncertainBytes = count
            throw error
        }
    }

    // MARK: Chaos

    /// Acts at random intervals until the phase is over: cancels workers (of this hub or another),
    /// closes sockets and file objects, shuts connections down, changes timeouts, or does nothing
    /// (the deadlines keep firing meanwhile).
    func chaos(name: String) async {
        while !phaseOver {
            do { try await Hub.sleep(for: .microseconds(random(0...40_000))) } catch { return }
            guard let side = sides.randomElement(using: &rng) else { continue }
            let roll = random(0...99)
            switch roll {
            case 0..<5:
                workers.randomElement(using: &rng)?.cancel()
                counts.cancelsSameHub += 1
            case 5..<7:
                if let task = registry.randomTask(excluding: index, using: &rng) {
                    task.cancel()
                    counts.cancelsOtherHub += 1
                }
            case 7..<9:
                side.socket.close()
                counts.closes += 1
            case 9..<11:
                side.closeReadLayer()
                counts.closes += 1
            case 11..<13:
                closeWriteLayer(side)
                counts.closes += 1
            case 13..<15:
                do {
                    try side.socket.shutdown([ShutdownDirection.read, .write, .both].randomElement(using: &rng) ?? .both)
                } catch {
                    if chaosEnding(of: error, tls: side.tls != nil) == nil { problem("\(name): shutdown: \(error)") }
                }
                counts.shutdowns += 1
            case 15..<25:
                do { try side.setTimeout(randomTimeoutMode()) } catch {
                    if chaosEnding(of: error, tls: side.tls != nil) != .closed { problem("\(name): setTimeout: \(error)") }
                }
                counts.timeoutChanges += 1
            default:
                break
            }
        }
    }

    /// Closes the side's writing file object; a buffered writer's close flushes, which may wait,
    /// so it runs in a green thread of its own.
    private func closeWriteLayer(_ side: ChaosSide) {
        switch side.writeLayer {
        case .raw: break
        case .socketIO(let io): io.close()
        case .buffered(let writer):
            live += 1
            closers.append(hub.spawn { [self] in
                defer { live -= 1 }
                await closeWriter(writer, side)
            })
        }
    }

    private func closeWriter(_ writer: BufferedWriter, _ side: ChaosSide) async {
        do { try await writer.close() } catch let error as IOError where error.kind == .busy || error.kind == .wouldBlock {
            // Another green thread was writing, or the final close is non-blocking: closed anyway.
        } catch {
            if chaosEnding(of: error, tls: side.tls != nil) == nil { problem("\(side.name): closing the writer: \(error)") }
        }
    }

    // MARK: The end

    /// Ends the run: waits for the chaos threads, closes every socket and file object (which wakes
    /// every green thread still parked with "closed"), waits for every green thread, and checks
    /// that nothing is left: no descriptor of the run open, no registration, no waiter, no timer,
    /// no pattern violation, and (debug builds) as many waits resumed as parked.
    private func finish() async {
        if case .failure = await hubOutcome({ try await hubUntil(limit: .seconds(10)) { chaosLive == 0 } }) {
            problem("the chaos green threads did not stop")
        }
        // A background writer close may wait in a flush for a peer that no longer reads.
        for closer in closers { closer.cancel() }
        for side in sides {
            // Non-blocking, so that the writers' final flushes cannot wait.
            try? side.setTimeout(.nonBlocking)
            side.closeReadLayer()
            switch side.writeLayer {
            case .raw: break
            case .socketIO(let io): io.close()
            case .buffered(let writer): await closeWriter(writer, side)
            }
            side.socket.close()
        }
        if case .failure = await hubOutcome({ try await hubUntil(limit: .seconds(30)) { live == 0 } }) {
            let stuck = activity.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
            problem("hang: \(live) green threads still running 30 s after every socket was closed: \(stuck)")
            for worker in workers { worker.cancel() }
            for closer in closers { closer.cancel() }
            _ = await hubOutcome { try await hubUntil(limit: .seconds(10)) { live == 0 } }
        }
        for side in sides where side.plain.fileDescriptor >= 0 {
            problem("\(side.name): descriptor \(side.plain.fileDescriptor) still open after closing everything")
        }
        for (name, stream, tls) in streams {
            if let violation = stream.violation { problem("\(name): the reader got bytes out of order: \(violation)") }
            // Plain streams count exactly what the writer handed over, but for the write that
            // stopped the writer. (A TLS write cut off by cancellation is not counted, yet its
            // record may still go out with the close_notify.)
            if !tls && stream.received > stream.written + stream.uncertainBytes {
                problem("\(name): the reader got \(stream.received) bytes, the writer handed over \(stream.written) "
                    + "(writer stopped: \(stream.stopReason ?? "no"))")
            }
        }
        let statistics = hub.statistics
        if statistics.fileDescriptorWaiters != 0 || statistics.registeredDescriptors != 0 || statistics.pendingTimers != 0 {
            problem("the hub is not empty after the run: \(statistics)")
        }
        #if DEBUG
        let waits = hub.debugWaitCounts
        counts.waitsParked = waits.parked
        counts.waitsResumed = waits.resumed
        counts.lateResumes = waits.alreadyResumed
        if waits.parked != waits.resumed {
            problem("\(waits.parked) waits parked but \(waits.resumed) resumed: a waiter was resumed twice or never")
        }
        #endif
    }
}

/// An outcome no layer may produce in the modes the chaos test uses.
struct ChaosUnexpected: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
