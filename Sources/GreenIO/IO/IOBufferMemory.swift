import CGreenIO

extension UnsafeMutableRawBufferPointer {
    /// Allocates `byteCount` bytes for an I/O buffer (a reader's, a writer's, the TLS socket's):
    /// from the calling thread's cache of recently freed buffers of that size when it has one, else
    /// from the heap. Free it with `deallocateIOBuffer()`. 0 bytes gives an empty buffer.
    ///
    /// Buffers are given back whenever a connection waits (idle connections hold none), so a busy
    /// connection takes and returns one per wake-up; the cache makes that pair a few instructions
    /// instead of a trip through the general heap. The corresponding C functions are
    /// `cgreenio_buffer_alloc` and `cgreenio_buffer_free`.
    static func allocateIOBuffer(byteCount: Int) -> UnsafeMutableRawBufferPointer {
        guard byteCount > 0 else { return UnsafeMutableRawBufferPointer(start: nil, count: 0) }
        guard let memory = cgreenio_buffer_alloc(byteCount) else {
            // As `allocate(byteCount:alignment:)` does when the heap is exhausted.
            fatalError("out of memory allocating a \(byteCount)-byte I/O buffer")
        }
        return UnsafeMutableRawBufferPointer(start: memory, count: byteCount)
    }

    /// Frees a buffer from `allocateIOBuffer(byteCount:)` (keeping it in the thread's cache when it
    /// has room). An empty buffer is ignored.
    func deallocateIOBuffer() {
        cgreenio_buffer_free(baseAddress, count)
    }
}
