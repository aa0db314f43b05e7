extension TextIOWrapper {
    /// Writes `text`: every `\n` translated for the newline mode, then encoded and handed to the
    /// writer, which buffers it until `flush()` or `close()` (no line buffering).
    ///
    /// Non-blocking: if the writer takes only part of the bytes, the rest stays in the wrapper,
    /// the text counts as written, and the next `write` or `flush` sends the rest first.
    /// - Parameters:
    ///   - text: the text to write.
    ///   - deadline: an absolute limit on top of the socket's timeout.
    /// - Returns: the number of characters (Unicode scalars) of `text`, before translation.
    /// - Throws: `IOError` `.invalidArgument` "I/O operation on closed file.";
    ///   `.unsupportedOperation` "not writable"; `.encodingFailed` (nothing written) for a character
    ///   the encoding lacks under `.strict`; `.wouldBlock` with `bytesTransferred` 0 when bytes left
    ///   over from an earlier call still cannot be sent (nothing of `text` is taken; call again
    ///   later); `.busy` if another green thread is writing; the writer's other errors (`.timedOut`,
    ///   socket errors; then how much of `text` the writer took is the writer's to say);
    ///   `CancellationError`.
    @discardableResult
    public func write(_ text: String, deadline: Deadline? = nil) async throws -> Int {
        let writer = try beginWrite()
        defer { writeInProgress = false }
        let bytes = try encoder.encode(text)
        let count = text.unicodeScalars.count
        try await sendUnsentBytes(to: writer, deadline: deadline)
        if bytes.isEmpty { return count }
        do {
            _ = try await writer.write(bytes, deadline: deadline)
        } catch let error as IOError where error.kind == .wouldBlock {
            let taken = min(max(error.bytesTransferred ?? 0, 0), bytes.count)
            unsentBytes = Array(bytes[taken...])
        }
        return count
    }

    /// Sends the bytes the wrapper holds, then flushes the writer (Python's `flush()`). Does
    /// nothing more on a read-only wrapper.
    /// - Parameter deadline: an absolute limit on top of the socket's timeout.
    /// - Throws: `IOError` `.invalidArgument` "I/O operation on closed file."; `.wouldBlock` with
    ///   `bytesTransferred` 0 in non-blocking mode when not everything could be sent (what was not
    ///   sent stays; flush again later); `.busy` if another green thread is writing; the writer's
    ///   errors; `CancellationError`.
    public func flush(deadline: Deadline? = nil) async throws {
        try checkOpen()
        guard writer != nil else { return }
        let writer = try beginWrite()
        defer { writeInProgress = false }
        try await sendUnsentBytes(to: writer, deadline: deadline)
        try await writer.flush(deadline: deadline)
    }

    /// Hands the bytes left over from an earlier non-blocking write to `writer`.
    /// - Throws: `.wouldBlock` with `bytesTransferred` 0 if the writer still cannot take all of
    ///   them (it keeps what it took); the writer's other errors (bytes kept unless the error says
    ///   how many were taken).
    func sendUnsentBytes(to writer: any BinaryWriting, deadline: Deadline?) async throws {
        guard !unsentBytes.isEmpty else { return }
        do {
            _ = try await writer.write(unsentBytes, deadline: deadline)
            unsentBytes = []
        } catch let error as IOError {
            if let taken = error.bytesTransferred, taken > 0 {
                unsentBytes.removeFirst(min(taken, unsentBytes.count))
            }
            if error.kind == .wouldBlock { throw IOError.wouldBlock(bytesTransferred: 0) }
            throw error
        }
    }
}
