import ArgumentParser
import GreenIO

/// `greenio pingpong`: 1-byte round trips between two green threads over a socketpair, through the
/// raw socket protocol, on one hub — or on each of `--hubs N` hubs at once (N independent pairs,
/// one per hub thread; the rate is their sum), which shows what the hubs of one process cost each
/// other. The figures in Docs/Benchmarks.md come from here.
struct PingPong: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pingpong",
        abstract: "Measure 1-byte ping-pong round trips per second between two green threads (per hub).")

    @OptionGroup var measurement: MeasurementOptions

    @Flag(name: .long, help: "Run the ping-pong over TLS 1.3 (both ends green, on one hub).")
    var tls = false

    @Option(name: .long, help: "Hubs (threads) running a ping-pong pair each at the same time; the rate is their sum.")
    var hubs = 1

    func validate() throws {
        guard hubs >= 1, hubs <= 256 else { throw ValidationError("--hubs must be in 1...256") }
    }

    func run() throws {
        var rates: [Double] = []
        for run in 1...measurement.runs {
            let (seconds, tls) = (measurement.secs, self.tls)
            let rate = try SideBySideHubs.sum(hubs: hubs) { try await PingPong.measureOnePair(seconds: seconds, tls: tls) }
            rates.append(rate)
            print("run \(run): \(Int(rate)) round trips/s")
        }
        print("median: \(Int(MeasurementOptions.median(rates))) round trips/s")
    }

    /// One pair's round trips per second, on the calling green thread's hub.
    static func measureOnePair(seconds: Double, tls: Bool) async throws -> Double {
        if !tls {
            // Concrete types, so the measured loop is specialized as user code would be.
            let (a, b) = try Socket.pair()
            return try await measure(a, b, seconds: seconds)
        }
        let (a, b) = try await BenchPair.make(tls: true)
        return try await measure(a, b, seconds: seconds)
    }

    static func measure<A: RawSocket, B: RawSocket>(_ a: A, _ b: B, seconds: Double) async throws -> Double {
        defer {
            a.close()
            b.close()
        }
        guard let hub = Hub.current else { throw IOError(.notOnHub, "no hub") }
        let echo = hub.spawn {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 1)
            defer { buffer.deallocate() }
            while true {
                guard case .completed(let n) = try await b.receive(into: buffer, deadline: nil), n == 1 else { return }
                _ = try await b.send(UnsafeRawBufferPointer(buffer), deadline: nil)
            }
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 1)
        defer { buffer.deallocate() }
        buffer[0] = 42
        var count = 0
        let start = Deadline.now
        let end = Deadline.after(.nanoseconds(Int64(seconds * 1e9)))
        while true {
            _ = try await a.send(UnsafeRawBufferPointer(buffer), deadline: nil)
            guard case .completed(1) = try await a.receive(into: buffer, deadline: nil) else {
                throw IOError(.system, "echo side closed")
            }
            count += 1
            if count & 1023 == 0 && end.hasPassed { break }
        }
        let elapsed = Double(Deadline.now.nanoseconds - start.nanoseconds) / 1e9
        try a.shutdown(.write)
        _ = try await echo.value
        return Double(count) / elapsed
    }
}
