import Testing
@testable import greenio

/// The serve command's private line buffer, fed directly.
@Suite("CLI line buffer", .timeLimit(.minutes(1)))
struct CLILineBufferTests {
    /// Copies `text` into the buffer's free space (in pieces that fit) and scans after each piece;
    /// returns the complete lines found and whether a line was too long.
    private func feed(_ buffer: inout LineBuffer, _ text: String) -> (lines: String, tooLong: Bool) {
        var rest = Array(text.utf8)[...]
        var lines: [UInt8] = []
        while !rest.isEmpty {
            let space = buffer.freeSpace()
            let count = min(space.count, rest.count)
            space.copyBytes(from: rest.prefix(count))
            rest = rest.dropFirst(count)
            buffer.didRead(count)
            let scan = buffer.scanLines()
            lines += scan.completeLines
            if scan.lineTooLong { return (String(decoding: lines, as: UTF8.self), true) }
            buffer.dropCompleteLines()
        }
        return (String(decoding: lines, as: UTF8.self), false)
    }

    @Test("splits complete lines from the pending one, across reads")
    func splitsLines() {
        var buffer = LineBuffer(lineLimit: 100)
        #expect(feed(&buffer, "a\nbb\nc") == ("a\nbb\n", false))
        #expect(String(decoding: buffer.pendingLine, as: UTF8.self) == "c")
        #expect(feed(&buffer, "cc\n\nd") == ("ccc\n\n", false))
        #expect(String(decoding: buffer.pendingLine, as: UTF8.self) == "d")
    }

    @Test("a line of exactly the limit passes; one byte more is too long, complete or not")
    func limitIsExact() {
        var fits = LineBuffer(lineLimit: 4)
        #expect(feed(&fits, "abc\nabcd") == ("abc\n", false))
        #expect(fits.pendingLine.count == 4)

        var complete = LineBuffer(lineLimit: 4)
        #expect(feed(&complete, "ok\nabcd\nzz\n") == ("ok\n", true))

        var pending = LineBuffer(lineLimit: 4)
        #expect(feed(&pending, "abcde") == ("", true))
    }

    @Test("grows for a long line fed in small pieces, up to the limit")
    func growsForLongLines() {
        var buffer = LineBuffer(lineLimit: 20_000, initialCapacity: 16)
        let long = String(repeating: "x", count: 19_999) + "\n"
        for piece in stride(from: 0, to: long.utf8.count, by: 7) {
            let end = min(piece + 7, long.utf8.count)
            let slice = String(decoding: Array(long.utf8)[piece..<end], as: UTF8.self)
            let result = feed(&buffer, slice)
            #expect(!result.tooLong)
            if end == long.utf8.count { #expect(result.lines == long) }
        }
        #expect(buffer.pendingLine.isEmpty)
        #expect(feed(&buffer, String(repeating: "y", count: 20_001)).tooLong)
    }

    @Test("after a small read the next first allocation is small; after a large one, the initial capacity; lines split the same either way")
    func firstAllocationFollowsTheLastRead() {
        var buffer = LineBuffer(lineLimit: 65_536)
        #expect(buffer.freeSpace().count == LineBuffer.smallCapacity)
        #expect(feed(&buffer, "one line\n") == ("one line\n", false))
        buffer.releaseIfEmpty()
        #expect(buffer.freeSpace().count == LineBuffer.smallCapacity)
        let batch = String(repeating: String(repeating: "b", count: 63) + "\n", count: 32)  // 2 KiB
        #expect(feed(&buffer, batch) == (batch, false))
        buffer.releaseIfEmpty()
        #expect(buffer.freeSpace().count == 8192)
        #expect(feed(&buffer, batch) == (batch, false))
        buffer.releaseIfEmpty()
        #expect(feed(&buffer, "short\n") == ("short\n", false))
        buffer.releaseIfEmpty()
        #expect(buffer.freeSpace().count == LineBuffer.smallCapacity)
    }
}
