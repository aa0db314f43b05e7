import Testing
@testable import GreenIO

/// The reader's byte store: how large its allocations start after a long line (no sockets involved).
@Suite("Read buffer sizes")
struct ReadBufferTests {
    /// Fills `n` bytes of `x` into the buffer's free space (growing it as a line reader does) and
    /// returns the capacity it ended with.
    static func fill(_ buffer: inout ReadBuffer, _ n: Int) -> Int {
        var left = n
        while left > 0 {
            let space = buffer.freeSpace(atLeast: 1)
            let chunk = min(left, space.count)
            space.baseAddress?.initializeMemory(as: UInt8.self, repeating: UInt8(ascii: "x"), count: chunk)
            buffer.didFill(chunk)
            left -= chunk
        }
        return buffer.storage.count
    }

    @Test("a buffer grown for a 64 KiB line is given back once consumed; the next allocation starts at the grown size")
    func remembersGrownSize() {
        var buffer = ReadBuffer(normalCapacity: 8192)
        defer { buffer.deallocate() }
        let grown = Self.fill(&buffer, 65_536)
        #expect(grown == 65_536)
        buffer.consume(65_536)
        #expect(buffer.storage.baseAddress == nil, "the memory was given back")
        #expect(buffer.rememberedCapacity == 65_536)
        #expect(buffer.freeSpace(atLeast: 1).count == 65_536, "one allocation of the grown size, not 8 KiB doubling")
    }

    @Test("a first read of no more than the normal capacity forgets the grown size")
    func smallReadForgets() {
        var buffer = ReadBuffer(normalCapacity: 8192)
        defer { buffer.deallocate() }
        _ = Self.fill(&buffer, 65_536)
        buffer.consume(65_536)
        _ = Self.fill(&buffer, 4_000)
        #expect(buffer.rememberedCapacity == 0)
        buffer.consume(4_000)
        #expect(buffer.storage.baseAddress == nil)
        #expect(buffer.freeSpace(atLeast: 1).count == 8192, "back to the normal capacity")
    }

    @Test("the remembered size is at most 1 MiB, however long the line was")
    func rememberedSizeIsCapped() {
        var buffer = ReadBuffer(normalCapacity: 8192)
        defer { buffer.deallocate() }
        _ = Self.fill(&buffer, 3 << 20)
        buffer.consume(3 << 20)
        #expect(buffer.rememberedCapacity == ReadBuffer.largestRememberedCapacity)
        #expect(buffer.freeSpace(atLeast: 1).count == 1 << 20)
    }

    @Test("a first read that fills its whole allocation doubles the next one, up to 1 MiB")
    func fullReadsDouble() {
        var buffer = ReadBuffer(normalCapacity: 8192)
        defer { buffer.deallocate() }
        var sizes: [Int] = []
        for _ in 0..<10 {
            let space = buffer.freeSpace(atLeast: 1)
            sizes.append(space.count)
            buffer.didFill(space.count)
            buffer.consume(space.count)
            buffer.releaseIfEmpty()  // as the reader does before it waits
        }
        #expect(sizes == [1_000, 8192, 16_384, 32_768, 65_536, 131_072, 262_144, 524_288, 1 << 20, 1 << 20])
    }
}
