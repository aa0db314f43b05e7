import ArgumentParser
import GreenIO

/// `greenio iobench`: the buffered layer's figures in Docs/Benchmarks.md — readline of 64-byte
/// lines, a readline/write/flush echo, and a long line arriving in 1-byte chunks (to show the line
/// scan is linear in the bytes received).
struct IOBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iobench",
        abstract: "Measure readline and echo throughput of GreenIO's buffered file objects over a socketpair.")

    @OptionGroup var measurement: MeasurementOptions

    @Flag(name: .long, help: "Run the readline and echo cases over TLS 1.3 (both ends green, on one hub).")
    var tls = false

    @Option(name: .customLong("long-line-kib"), help: "Size in KiB of the long line sent in 1-byte chunks.")
    var longLineKiB: Int = 1024

    @Option(name: .long, help: "Hubs (threads) running the readline and echo cases at the same time, a pair each; the rates are summed.")
    var hubs = 1

    func validate() throws {
        guard longLineKiB >= 1, longLineKiB <= 64 * 1024 else { throw ValidationError("--long-line-kib must be in 1...65536") }
        guard hubs >= 1, hubs <= 256 else { throw ValidationError("--hubs must be in 1...256") }
    }

    func run() throws {
        let seconds = measurement.secs
        let runs = measurement.runs
        let tls = self.tls
        let readline = try (1...runs).map { _ in
            try SideBySideHubs.sum(hubs: hubs) {
                let (a, b) = try await BenchPair.make(tls: tls)
                return try await IOBench.readlineRate(a, b, seconds: seconds)
            }
        }
        print("readline, 64-byte lines: \(Int(MeasurementOptions.median(readline))) lines/s (median of \(runs))")
        let echo = try (1...runs).map { _ in
            try SideBySideHubs.sum(hubs: hubs) {
                let (a, b) = try await BenchPair.make(tls: tls)
                return try await IOBench.echoRate(a, b, seconds: seconds)
            }
        }
        print("readline + write + flush echo, 32 lines in flight: \(Int(MeasurementOptions.median(echo))) lines/s (median of \(runs))")
        for kib in [longLineKiB / 16, longLineKiB] where kib > 0 {
            let bytes = kib * 1024
            let (elapsed, reads) = try Hub.run { try await IOBench.longLine(bytes: bytes) }
            print("\(kib) KiB line in 1-byte chunks: \(String(format: elapsed * 1000)) ms, "
                + "\(reads) raw reads, \(String(format: elapsed * 1e9 / Double(bytes))) ns per byte")
        }
    }

    static let line: [UInt8] = Array(repeating: UInt8(ascii: "x"), count: 63) + [UInt8(ascii: "\n")]

    /// A writer green thread streams 64-byte lines; the reader counts `readLine` results.
    static func readlineRate<A: RawSocket, B: RawSocket>(_ a: A, _ b: B, seconds: Double) async throws -> Double {
        defer { a.close(); b.close() }
        let batch = Array(repeatElement(line, count: 512).joined())
        let writer = Hub.current?.spawn {
            while true { try await b.sendAll(batch) }
        }
        let reader = try a.makeReader()
        defer { reader.close() }
        var count = 0
        let start = Deadline.now
        let end = Deadline.after(.nanoseconds(Int64(seconds * 1e9)))
        while true {
            guard let got = try await reader.readLine(), got.count == 64 else { throw IOError(.system, "short line") }
            count += 1
            if count & 4095 == 0 && end.hasPassed { break }
        }
        writer?.cancel()
        return Double(count) / elapsedSeconds(since: start)
    }

    /// A client keeps 32 lines in flight; the server echoes with readLine, write and a flush
    /// whenever no further line is buffered.
    static func echoRate<A: RawSocket, B: RawSocket>(_ client: A, _ server: B, seconds: Double) async throws -> Double {
        defer { client.close(); server.close() }
        let echo = Hub.current?.spawn {
            let file = try server.makeReadWritePair()
            defer { file.reader.close() }
            while let got = try await file.readLine(), !got.isEmpty {
                try await file.write(got)
                if file.reader.bufferedByteCount == 0 { try await file.flush() }
            }
            try await file.flush()
        }
        let reader = try client.makeReader()
        defer { reader.close() }
        let batch = Array(repeatElement(line, count: 32).joined())
        var count = 0
        let start = Deadline.now
        let end = Deadline.after(.nanoseconds(Int64(seconds * 1e9)))
        while !end.hasPassed {
            try await client.sendAll(batch)
            for _ in 0..<32 {
                guard let got = try await reader.readLine(), got.count == 64 else { throw IOError(.system, "short echo") }
                count += 1
            }
        }
        let elapsed = elapsedSeconds(since: start)
        try client.shutdown(.write)
        _ = try await echo?.value
        return Double(count) / elapsed
    }

    /// One line of `bytes` bytes sent a byte at a time, the writer yielding after each byte so the
    /// reader sees 1-byte chunks. Returns the seconds `readLine` took and the raw reads it made.
    static func longLine(bytes: Int) async throws -> (Double, Int) {
        let (a, b) = try Socket.pair()
        defer { a.close(); b.close() }
        let counter = CountingSocket(a)
        let reader = try counter.makeReader()
        defer { reader.close() }
        Hub.current?.spawn {
            var byte: [UInt8] = [UInt8(ascii: "y")]
            for index in 0..<bytes {
                if index == bytes - 1 { byte = [UInt8(ascii: "\n")] }
                try await b.sendAll(byte)
                try await Hub.yield()
            }
        }
        let start = Deadline.now
        guard let got = try await reader.readLine(), got.count == bytes else { throw IOError(.system, "short long line") }
        return (elapsedSeconds(since: start), counter.receives)
    }

    static func elapsedSeconds(since start: Deadline) -> Double {
        Double(Deadline.now.nanoseconds - start.nanoseconds) / 1e9
    }
}

private extension String {
    init(format value: Double) {
        self = String(Double(Int(value * 10)) / 10)
    }
}

/// A raw socket that counts the receives it passes on (to show how many chunks a line took).
private final class CountingSocket: RawSocket, @unchecked Sendable {
    let socket: Socket
    var receives = 0

    init(_ socket: Socket) { self.socket = socket }

    var fileDescriptor: Int32 { socket.fileDescriptor }
    var timeout: TimeoutMode { socket.timeout }
    var isClosed: Bool { socket.isClosed }

    func receive(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline?) async throws -> IOOutcome {
        receives += 1
        return try await socket.receive(into: buffer, deadline: deadline)
    }

    func send(_ bytes: UnsafeRawBufferPointer, deadline: Deadline?) async throws -> IOOutcome {
        try await socket.send(bytes, deadline: deadline)
    }

    func shutdown(_ direction: ShutdownDirection) throws { try socket.shutdown(direction) }
    func close() { socket.close() }
    func retainFileReference() { socket.retainFileReference() }
    func releaseFileReference() { socket.releaseFileReference() }
}
