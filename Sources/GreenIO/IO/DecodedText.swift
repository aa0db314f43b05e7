/// Text decoded from the stream and not yet returned to the caller, with the newline handling of
/// reads (Python's `IncrementalNewlineDecoder` plus `TextIOWrapper`'s decoded-chars buffer).
///
/// Text is kept as Unicode scalars so that counts are Python's code points. In the universal
/// modes a `\r` that ends the decoded text is held back until the next character shows whether it
/// is part of `\r\n` (or until `finish()` at the end of the stream), so the buffer never ends in a
/// `\r` that could still become `\r\n`.
///
/// Line scanning remembers how far the current line has been searched, so a long line arriving in
/// small pieces is scanned once (linear cost).
struct DecodedText {
    let newline: NewlineMode
    /// Decoded scalars; those before `start` were returned already.
    private var scalars: [Unicode.Scalar] = []
    /// Index of the first scalar not yet returned.
    private(set) var start = 0
    /// A `\r` held back in the universal modes (see the type's comment).
    private(set) var holdsCarriageReturn = false
    /// The first line starting at `start` has no line ending before this index.
    private var lineScannedUpTo = 0

    init(newline: NewlineMode) {
        self.newline = newline
    }

    /// How many scalars are available (not counting a held `\r`).
    var count: Int { scalars.count - start }

    /// True if nothing is available and no `\r` is held.
    var isEmpty: Bool { count == 0 && !holdsCarriageReturn }

    /// Appends freshly decoded scalars, translating line endings in `.universal` mode.
    /// - Returns: true if the available text grew.
    mutating func append(_ fresh: [Unicode.Scalar]) -> Bool {
        let before = scalars.count
        if newline.holdsTrailingCarriageReturn {
            appendHoldingCarriageReturn(fresh)
        } else {
            scalars += fresh
        }
        return scalars.count > before
    }

    /// The stream ended: a held `\r` becomes available (as `\n` in `.universal` mode).
    mutating func finish() {
        guard holdsCarriageReturn else { return }
        holdsCarriageReturn = false
        scalars.append(newline == .universal ? "\n" : "\r")
    }

    private mutating func appendHoldingCarriageReturn(_ fresh: [Unicode.Scalar]) {
        let translate = newline == .universal
        for scalar in fresh {
            if holdsCarriageReturn {
                holdsCarriageReturn = false
                if scalar == "\n" {
                    if !translate { scalars.append("\r") }
                    scalars.append("\n")
                    continue
                }
                scalars.append(translate ? "\n" : "\r")
            }
            if scalar == "\r" {
                holdsCarriageReturn = true
            } else {
                scalars.append(scalar)
            }
        }
    }

    /// The length of the first available line including its line ending, or nil if no complete
    /// line ending is available yet. At the end of the stream (after `finish()`) a final `\r`
    /// ends a line in `.universalUntranslated` mode; a final `\r` in `.crlf` mode never does.
    mutating func firstLineLength() -> Int? {
        var index = max(lineScannedUpTo, start)
        let end = scalars.count
        defer { lineScannedUpTo = index }
        switch newline {
        case .universal, .lf:
            while index < end {
                if scalars[index] == "\n" { return index + 1 - start }
                index += 1
            }
        case .cr:
            while index < end {
                if scalars[index] == "\r" { return index + 1 - start }
                index += 1
            }
        case .universalUntranslated:
            while index < end {
                let scalar = scalars[index]
                if scalar == "\n" { return index + 1 - start }
                if scalar == "\r" {
                    let crlf = index + 1 < end && scalars[index + 1] == "\n"
                    return index + (crlf ? 2 : 1) - start
                }
                index += 1
            }
        case .crlf:
            while index < end {
                if scalars[index] == "\r" {
                    guard index + 1 < end else { return nil }  // keep the `\r` for the next scan
                    if scalars[index + 1] == "\n" { return index + 2 - start }
                }
                index += 1
            }
        }
        return nil
    }

    /// Removes and returns the first `length` available scalars (at most `count`).
    mutating func take(_ length: Int) -> String {
        let end = start + min(max(length, 0), count)
        var text = String()
        text.unicodeScalars.append(contentsOf: scalars[start..<end])
        start = end
        compact()
        return text
    }

    /// Removes and returns everything available.
    mutating func takeAll() -> String { take(count) }

    /// Puts `text` back in front of the available text (used to undo a partly done call that
    /// fails, so that nothing is lost).
    mutating func putBack(_ text: String) {
        let restored = Array(text.unicodeScalars)
        guard !restored.isEmpty else { return }
        if start >= restored.count && scalars[(start - restored.count)..<start].elementsEqual(restored) {
            start -= restored.count
        } else {
            scalars.insert(contentsOf: restored, at: start)
        }
        lineScannedUpTo = start
    }

    /// Drops everything (the file was closed).
    mutating func removeAll() {
        scalars = []
        start = 0
        lineScannedUpTo = 0
        holdsCarriageReturn = false
    }

    /// Releases returned scalars once they are at least half of the storage (amortised linear).
    private mutating func compact() {
        if start == scalars.count {
            scalars.removeAll(keepingCapacity: scalars.count <= 65_536)
            start = 0
            lineScannedUpTo = 0
        } else if start >= 4096 && start * 2 >= scalars.count {
            scalars.removeFirst(start)
            lineScannedUpTo = max(lineScannedUpTo - start, 0)
            start = 0
        }
    }
}
