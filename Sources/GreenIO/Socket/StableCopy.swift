/// Calls `body` with a heap copy of `bytes` whose address stays valid across suspension points: an
/// array's own storage may only be borrowed synchronously, and a send may wait on the hub. This is
/// how the `[UInt8]` conveniences reach the pointer-based calls.
func withStableCopy<Result>(of bytes: [UInt8], _ body: (UnsafeRawBufferPointer) async throws -> Result) async rethrows -> Result {
    let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
    defer { copy.deallocate() }
    copy.copyBytes(from: bytes)
    return try await body(UnsafeRawBufferPointer(copy))
}
