import ArgumentParser
import GreenIO

/// `greenio pingpong`: 1-byte round trips between two green threads over a socketpair, through the
/// raw socket protocol, on one hub. The figure in Docs/Benchmarks.md comes from here.
struct PingPong: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pingpong",
        abstract: "Measure 1-byte ping-pong round trips per second between two green threads.")

    @OptionGroup var measurement: MeasurementOptions

    @Flag(name: .long, help: "Run the ping-pong over TLS 1.3 (both ends green, on one hub).")
    var tls = false

    func run() throws {
        var rates: [Double] = []
        for run in 1...measurement.runs {
            let seconds = measurement.secs
            let tls = self.tls
            let rate = try Hub.run {
                if !tls {
                    // Concrete types, so the measured loop is specialized as user code would be.
                    let (a, b) = try Socket.pair()
                    return try await PingPong.measure(a, b, seconds: seconds)
                }
                let (a, b) = try await BenchPair.make(tls: true)
                return try await PingPong.measure(a, b, seconds: seconds)
            }
            rates.append(rate)
            print("run \(run): \(Int(rate)) round trips/s")
        }
        print("median: \(Int(MeasurementOptions.median(rates))) round trips/s")
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
