/// Reads a fuzz input as a sequence of small decisions followed by a payload.
///
/// Every read past the end yields zeros, so any input — even an empty one — decodes to some valid
/// case: libFuzzer's mutations never produce a case the harness has to reject.
struct FuzzInput {
    private let bytes: [UInt8]
    private var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The next byte, or 0 past the end.
    mutating func byte() -> UInt8 {
        guard position < bytes.count else { return 0 }
        defer { position += 1 }
        return bytes[position]
    }

    /// The next `count` bytes (fewer past the end).
    mutating func bytes(_ count: Int) -> [UInt8] {
        let end = min(bytes.count, position + count)
        defer { position = max(position, end) }
        return position < end ? Array(bytes[position..<end]) : []
    }

    /// A length-prefixed section: one byte for the length, then that many bytes.
    mutating func section() -> [UInt8] { bytes(Int(byte())) }

    /// Everything not read yet.
    mutating func rest() -> [UInt8] { bytes(bytes.count) }
}

/// Reports a broken invariant as a crash, which libFuzzer records with the input that caused it.
func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
           file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError("invariant violated: \(message())", file: file, line: line) }
}
