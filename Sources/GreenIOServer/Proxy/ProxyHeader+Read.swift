import GreenIO

extension ProxyHeader {
    /// Reads the PROXY header at the start of `socket`'s input. Bytes received beyond the header —
    /// the client's first line, or its TLS ClientHello, when they came in the same segment — are
    /// put back (`Socket.unread`), so whoever reads next, plain or TLS, gets them first. Usually one
    /// `recv`: at most 108 bytes at first (any v1 header, and a v2 header with IPv4 or IPv6
    /// addresses and short TLVs), then exactly what a longer v2 header still needs.
    /// - Parameters:
    ///   - socket: the accepted connection, before anything else has read from it.
    ///   - maxV2Length: the most bytes a version 2 header may carry after its fixed 16.
    ///   - deadline: when to give up on a slow header (nil: the socket's timeout mode alone).
    /// - Throws: `ProxyHeaderError` — `.missing`, `.malformed`, `.tooLong` (as `parse` finds them),
    ///   `.truncated` when the connection ends or fails inside the header, `.timedOut` at the
    ///   deadline; `CancellationError`.
    public static func read(from socket: Socket, maxV2Length: Int = defaultMaxV2Length,
                            deadline: Deadline?) async throws -> ProxyHeader {
        var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: maxV1Length + 1, alignment: 1)
        defer { buffer.deallocate() }
        var filled = 0
        do {
            while true {
                let window = UnsafeMutableRawBufferPointer(rebasing: buffer[filled...])
                guard case .completed(let count) = try await socket.receive(into: window, deadline: deadline) else {
                    throw IOError.wouldBlock()  // Non-blocking sockets are not given to this reader.
                }
                guard count > 0 else {
                    throw ProxyHeaderError(.truncated, filled == 0 ? "closed before sending a header" : "closed inside the header")
                }
                filled += count
                switch parse(UnsafeRawBufferPointer(rebasing: buffer[0..<filled]), maxV2Length: maxV2Length) {
                case .complete(let header):
                    try socket.unread(UnsafeRawBufferPointer(rebasing: buffer[header.length..<filled]))
                    return header
                case .invalid(let error):
                    throw error
                case .incomplete:
                    // A v2 header longer than the buffer: grow it to the length the header states
                    // (within the limit: parse checked it), so the next receive takes the rest.
                    if filled == buffer.count, buffer[0] == v2Signature[0], filled >= v2FixedLength {
                        let length = v2FixedLength + (Int(buffer[14]) << 8 | Int(buffer[15]))
                        let larger = UnsafeMutableRawBufferPointer.allocate(byteCount: length, alignment: 1)
                        larger.copyMemory(from: UnsafeRawBufferPointer(buffer))
                        buffer.deallocate()
                        buffer = larger
                    }
                }
            }
        } catch let error as IOError {
            if error.kind == .timedOut { throw ProxyHeaderError(.timedOut, "no complete header before the deadline") }
            throw ProxyHeaderError(.truncated, "the connection failed inside the header (\(error.errno.map { "\($0)" } ?? "\(error.kind)"))")
        }
    }
}
