/// An independent, whole-buffer reading of RESP2 requests (Redis's grammar, with `RESPDecoder`'s
/// limits and messages), written plainly with the standard library: what the incremental decoder
/// must find, however the stream arrives.
struct RESPModel {
    /// Each command's arguments, and the stream offset just past it.
    var commands: [(arguments: [[UInt8]], end: Int)] = []
    /// The protocol error (its reply text, "Protocol error: …") that ends the stream; nil when it
    /// ends at the end of the input (a command cut short there is dropped).
    var error: String?

    init(_ input: [UInt8], maxLine: Int, maxBulk: Int, maxArguments: Int) {
        var position = 0

        /// One line without terminator, or nil at the end; throws for a line too long.
        func line() throws(ModelError) -> ArraySlice<UInt8>? {
            let rest = input[position...]
            if let newline = rest.firstIndex(of: 10), newline - position + 1 <= maxLine {
                defer { position = newline + 1 }
                let end = newline > position && input[newline - 1] == 13 ? newline - 1 : newline
                return input[position..<end]
            }
            if rest.count > maxLine { throw ModelError("line longer than \(maxLine) bytes") }
            // A final partial line: the end.
            position = input.count
            return nil
        }

        func bulk() throws(ModelError) -> [UInt8]? {
            guard let header = try line() else { return nil }
            guard header.first == UInt8(ascii: "$") else {
                throw ModelError("expected '$', got '\(Self.quote(header.prefix(1)))'")
            }
            guard let length = Self.integer(header.dropFirst()), length >= 0, length <= maxBulk else {
                throw ModelError("invalid bulk length")
            }
            guard input.count - position >= length + 2 else { return nil }
            defer { position += length + 2 }
            guard input[position + length] == 13, input[position + length + 1] == 10 else {
                throw ModelError("expected CRLF after a bulk string of \(length) bytes")
            }
            return Array(input[position..<(position + length)])
        }

        do throws(ModelError) {
            commands: while let line = try line() {
                if line.first != UInt8(ascii: "*") {
                    let words = line.split(whereSeparator: { $0 == 32 || $0 == 9 }).map { Array($0) }
                    if !words.isEmpty { commands.append((words, position)) }
                    continue
                }
                guard let count = Self.integer(line.dropFirst()), count <= maxArguments else {
                    throw ModelError("invalid multibulk length")
                }
                var arguments: [[UInt8]] = []
                for _ in 0..<max(count, 0) {
                    guard let argument = try bulk() else { break commands }
                    arguments.append(argument)
                }
                if count > 0 { commands.append((arguments, position)) }
            }
        } catch {
            self.error = "Protocol error: \(error.message)"
        }
    }

    struct ModelError: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    /// An optional `-` and decimal digits, within `Int` (parsed by the standard library).
    static func integer(_ bytes: ArraySlice<UInt8>) -> Int? {
        let digits = bytes.first == UInt8(ascii: "-") ? bytes.dropFirst() : bytes
        guard !digits.isEmpty, digits.allSatisfy({ (48...57).contains($0) }) else { return nil }
        return Int(String(decoding: bytes, as: UTF8.self))
    }

    /// A byte as Redis's error reply quotes it: printable ASCII other than `'` as is, else `?`.
    static func quote(_ bytes: ArraySlice<UInt8>) -> String {
        String(bytes.map { $0 >= 32 && $0 < 127 && $0 != 39 ? Character(Unicode.Scalar($0)) : "?" })
    }
}
