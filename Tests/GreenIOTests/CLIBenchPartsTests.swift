import Testing
@testable import greenio

/// `greenio bench`'s batch layout, mismatch descriptions and round-trip histogram, directly.
@Suite("CLI bench parts")
struct CLIBenchPartsTests {
    /// The batch's lines as strings.
    private func lines(_ batch: BenchBatch) -> [String] {
        String(decoding: batch.bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            .dropLast().map(String.init)
    }

    @Test("lines carry the connection and sequence numbers, have the given length and end in \\n")
    func batchLayout() {
        let batch = BenchBatch(connection: 0x2a, count: 3, length: 24)
        defer { batch.deallocate() }
        batch.stamp(firstSequence: 0xfffe)
        #expect(lines(batch) == ["002a-000000fffe abcdefg", "002a-000000ffff abcdefg", "002a-0000010000 abcdefg"])
        #expect(batch.bytes.count == 72)

        let short = BenchBatch(connection: 0xffff, count: 2, length: BenchBatch.minimumLineLength)
        defer { short.deallocate() }
        short.stamp(firstSequence: (1 << 40) - 1)
        #expect(lines(short) == ["ffff-ffffffffff", "ffff-0000000000"])
    }

    @Test("every line of every connection and sequence number differs")
    func linesAreDistinct() {
        var seen = Set<String>()
        for connection in 0..<5 {
            let batch = BenchBatch(connection: connection, count: 8, length: 16)
            defer { batch.deallocate() }
            for first in stride(from: UInt64(0), to: 64, by: 8) {
                batch.stamp(firstSequence: first)
                for line in lines(batch) { seen.insert(line) }
            }
        }
        #expect(seen.count == 5 * 64)
    }

    @Test("a mismatch names the line and shows both versions, across receives")
    func describesMismatch() {
        let batch = BenchBatch(connection: 1, count: 3, length: 20)
        defer { batch.deallocate() }
        batch.stamp(firstSequence: 7)
        // Received in a second piece starting at byte 25 (inside line 2); byte 36 differs.
        var echoed = Array(batch.bytes[25..<60])
        echoed[11] = 0x01
        let description = echoed.withUnsafeBytes { batch.describeMismatch(echoed: $0, at: 25) }
        #expect(description == #"line 2 of 3 in the batch: expected "0001-0000000008 abc\n", got "0001-0000000008 \x01bc\n""#)

        // A short line: its \n comes early.
        let short = Array("0001-0000000007 a\n".utf8)
        let shortDescription = short.withUnsafeBytes { batch.describeMismatch(echoed: $0, at: 0) }
        #expect(shortDescription == #"line 1 of 3 in the batch: expected "0001-0000000007 abc\n", got "0001-0000000007 a\n""#)
    }

    @Test("histogram percentiles are within a few percent")
    func histogramPercentiles() {
        var histogram = LatencyHistogram()
        #expect(histogram.percentile(0.5) == nil)
        for value in 1...10_000 { histogram.record(nanoseconds: UInt64(value) * 1_000) }
        #expect(histogram.total == 10_000)
        let p50 = histogram.percentile(0.50) ?? 0
        let p99 = histogram.percentile(0.99) ?? 0
        #expect(abs(p50 - 5_000_000) / 5_000_000 < 0.04, "\(p50)")
        #expect(abs(p99 - 9_900_000) / 9_900_000 < 0.04, "\(p99)")
        var small = LatencyHistogram()
        for value in [3, 3, 3, 40] { small.record(nanoseconds: UInt64(value)) }
        #expect(small.percentile(0.5) == 3)
        #expect(small.percentile(1) == 40.5)
        small.record(nanoseconds: .max)
        #expect((small.percentile(1) ?? 0) > 1.8e19)
    }

    @Test("fixed-point formatting")
    func formatting() {
        #expect(BenchReport.fixed(0.0004, 3) == "0.000")
        #expect(BenchReport.fixed(1.2345, 2) == "1.23")
        #expect(BenchReport.fixed(2.05, 1) == "2.1" || BenchReport.fixed(2.05, 1) == "2.0")
        #expect(BenchReport.fixed(99.5, 0) == "100")
        #expect(BenchReport.fixed(12.003, 3) == "12.003")
    }
}
