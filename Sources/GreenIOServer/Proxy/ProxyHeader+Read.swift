import GreenIO

extension ProxyHeader {
    /// Reads the PROXY header at the start of `socket`'s input, taking exactly its bytes: the
    /// header is peeked (`Socket.peek`) and only its own bytes are received, so what follows it —
    /// the client's first line, or its TLS ClientHello — stays in the kernel's queue for whoever
    /// reads next. Usually one peek and one `recv`; a header that arrives in pieces is taken piece
    /// by piece (each piece is header, or the parse would have failed).
    /// - Parameters:
    ///   - maxV2Length: the most bytes a version 2 header may carry after its fixed 16.
    ///   - deadline: when to give up on a slow header (nil: the socket's timeout mode alone).
    /// - Throws: `ProxyHeaderError` — `.missing`, `.malformed`, `.tooLong` (as `parse` finds them),
    ///   `.truncated` when the connection ends or fails inside the header, `.timedOut` at the
    ///   deadline; `CancellationError`.
    public static func read(from socket: Socket, maxV2Length: Int = defaultMaxV2Length,
                            deadline: Deadline?) async throws -> ProxyHeader {
        let capacity = max(maxV1Length + 1, v2FixedLength + min(max(maxV2Length, 0), 65535))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 1)
        defer { buffer.deallocate() }
        do {
            return try await read(from: socket, into: buffer, maxV2Length: maxV2Length, deadline: deadline)
        } catch let error as IOError {
            if error.kind == .timedOut { throw ProxyHeaderError(.timedOut, "no complete header before the deadline") }
            throw ProxyHeaderError(.truncated, "the connection failed inside the header (\(error.errno.map { "\($0)" } ?? "\(error.kind)"))")
        }
    }

    private static func read(from socket: Socket, into buffer: UnsafeMutableRawBufferPointer, maxV2Length: Int,
                             deadline: Deadline?) async throws -> ProxyHeader {
        var consumed = 0  // Bytes received so far: all of them header.
        var want = maxV1Length + 1  // Enough for any v1 header, and for the usual short v2 one.
        while true {
            let window = UnsafeMutableRawBufferPointer(rebasing: buffer[consumed..<want])
            guard case .completed(let count) = try await socket.peek(into: window, deadline: deadline) else {
                throw IOError.wouldBlock()  // Non-blocking sockets are not given to this reader.
            }
            guard count > 0 else {
                throw ProxyHeaderError(.truncated, consumed == 0 ? "closed before sending a header" : "closed inside the header")
            }
            let available = consumed + count
            switch parse(UnsafeRawBufferPointer(rebasing: buffer[0..<available]), maxV2Length: maxV2Length) {
            case .complete(let header):
                try await take(header.length - consumed, from: socket, into: buffer, at: consumed, deadline: deadline)
                return header
            case .invalid(let error):
                throw error
            case .incomplete:
                if buffer[0] == v2Signature[0], available >= v2FixedLength {
                    want = v2FixedLength + (Int(buffer[14]) << 8 | Int(buffer[15]))  // Within capacity: parse checked the limit.
                }
                if available < want && count == window.count { continue }  // The window was too small: peek wider.
                // The queue held less than the header: take what is there, wait for the rest.
                try await take(count, from: socket, into: buffer, at: consumed, deadline: deadline)
                consumed = available
            }
        }
    }

    /// Receives exactly `count` bytes (already seen by a peek) into `buffer` at `offset`.
    private static func take(_ count: Int, from socket: Socket, into buffer: UnsafeMutableRawBufferPointer,
                             at offset: Int, deadline: Deadline?) async throws {
        var done = 0
        while done < count {
            let window = UnsafeMutableRawBufferPointer(rebasing: buffer[offset + done..<offset + count])
            guard case .completed(let received) = try await socket.receive(into: window, deadline: deadline), received > 0 else {
                throw ProxyHeaderError(.truncated, "closed inside the header")
            }
            done += received
        }
    }
}
