/// The reference for a reader: the whole stream and how much of it has been handed out.
/// Every result must continue the stream exactly where the previous one stopped — the
/// "nothing lost, nothing duplicated, nothing reordered" invariant.
struct StreamCursor {
    let stream: [UInt8]
    private(set) var position = 0

    init(_ stream: [UInt8]) { self.stream = stream }

    var remaining: ArraySlice<UInt8> { stream[position...] }
    var atEnd: Bool { position == stream.count }

    /// Checks that `bytes` continue the stream here, and moves past them.
    mutating func consume(_ bytes: [UInt8], _ what: @autoclosure () -> String) {
        check(continues(with: bytes), "\(what()): \(bytes.count) bytes do not continue the stream at \(position)")
        position += bytes.count
    }

    /// Whether `bytes` continue the stream here (without consuming them).
    func continues(with bytes: [UInt8]) -> Bool {
        bytes.count <= remaining.count && remaining.prefix(bytes.count).elementsEqual(bytes)
    }

    /// The length of the remaining stream through the first `separator` (nil if none).
    func lengthThrough(_ separator: [UInt8]) -> Int? {
        let rest = remaining
        guard rest.count >= separator.count else { return nil }
        var index = rest.startIndex
        while index + separator.count <= rest.endIndex {
            if rest[index..<(index + separator.count)].elementsEqual(separator) {
                return index + separator.count - rest.startIndex
            }
            index += 1
        }
        return nil
    }
}
