import GreenIO

/// Fuzzes `BufferedReader`: a scripted stream read by a sequence of calls the input chooses, in
/// blocking or non-blocking mode, then drained.
///
/// Input: options byte, buffer-size byte, plan section, operations section (two bytes each:
/// operation, argument), then the stream.
///
/// Invariants: every result continues the stream where the last one stopped (lossless, also
/// across timeouts, would-blocks and errors); after the drain the whole stream was returned; nil
/// only in non-blocking mode; each call's own contract (line endings, limits, `lineTooLong`
/// only when the line really is too long, short reads only at the end or on would-block); no
/// error other than the scripted ones.
struct ReaderTarget {
    let socket: ScriptedSocket
    let reader: BufferedReader
    var cursor: StreamCursor
    let nonBlocking: Bool
    let operations: [UInt8]

    init(_ input: inout FuzzInput) throws {
        let options = input.byte()
        nonBlocking = options & 1 != 0
        let ending = ScriptedSocket.Ending.allCases[Int(options >> 1) % 3]
        let sizeByte = input.byte()
        // Small buffers force lines and reads across many refills; 8192 is the default.
        let bufferSize = sizeByte >= 0xF0 ? 8192 : Int(sizeByte % 64) + 1
        let plan = ScriptedSocket.plan(from: input.section(), timeouts: true)
        operations = input.section()
        let stream = input.rest()
        socket = ScriptedSocket(stream: stream, plan: plan, ending: ending,
                                timeout: nonBlocking ? .nonBlocking : .blocking)
        reader = try BufferedReader(SocketIO(socket, mode: "rb"), bufferSize: bufferSize)
        // A timeout is a pause here, not the end: reads must go on after it.
        reader.timeoutPolicy = .resumable
        cursor = StreamCursor(stream)
    }

    mutating func run() async throws {
        var index = 0
        while index + 1 < operations.count {
            let (operation, argument) = (operations[index], operations[index + 1])
            index += 2
            do {
                try await perform(operation, Int(argument))
            } catch let error as IOError where error.kind == .timedOut || error.kind == .lineTooLong {
                // Expected (scripted timeouts; lineTooLong checked in `perform`); nothing consumed.
            } catch let error as IOError where error.kind == .wouldBlock && nonBlocking {
            } catch where ScriptedSocket.Ending.isEnd(error) {
                check(socket.isExhausted, "end-of-stream error before the stream's end")
            }
        }
        try await drain()
        reader.close()
    }

    /// Reads everything left with `read1` (which serves buffered bytes before any raw read, so a
    /// sticky end error cannot hide them) and checks the whole stream was returned.
    private mutating func drain() async throws {
        var attempts = 0
        while true {
            attempts += 1
            check(attempts < 100_000, "drain does not progress")
            do {
                guard let bytes = try await reader.read1(-1) else {
                    check(nonBlocking, "nil in blocking mode")
                    continue
                }
                if bytes.isEmpty { break }
                cursor.consume(bytes, "drain read1")
            } catch let error as IOError where error.kind == .timedOut {
                continue
            } catch where ScriptedSocket.Ending.isEnd(error) {
                break
            }
        }
        check(cursor.atEnd, "lost bytes: stream of \(cursor.stream.count), returned \(cursor.position)")
        check(reader.bufferedByteCount == 0, "bytes left buffered after the end")
    }

    /// Whether a nil result is allowed.
    private func allowNil(_ name: String) { check(nonBlocking, "\(name) returned nil in blocking mode") }

    /// A short result (no terminator, below the limit) is allowed at the end of the stream or, in
    /// non-blocking mode, when the socket would block.
    private func checkShort(_ name: String) {
        check(cursor.atEnd || nonBlocking, "\(name): short result before the end of the stream")
    }

    private mutating func perform(_ operation: UInt8, _ argument: Int) async throws {
        switch operation % 11 {
        case 0: line(try await reader.readLine(), limit: -1, name: "readLine()")
        case 1:
            let limit = argument % 40 - 1
            line(try await reader.readLine(limit: limit), limit: limit, name: "readLine(limit: \(limit))")
        case 2: try await lineWithMaxLength(argument % 40 + 1)
        case 3: try await read(argument % 40 - 1)
        case 4: try await read1(argument % 40 - 1)
        case 5: try await peek()
        case 6: try await readInto(argument % 40, single: false)
        case 7: try await readInto(argument % 40, single: true)
        case 8: try await readUntil(argument)
        case 9: try await readLines(hint: argument % 40 - 1)
        default: try await nextLine()
        }
    }

    /// Checks one line read with `limit` (-1: none) and consumes it.
    private mutating func checkLine(_ line: [UInt8], limit: Int, name: String) {
        check(limit < 0 || line.count <= limit, "\(name): \(line.count) bytes over the limit")
        if let newline = line.firstIndex(of: 10) {
            check(newline == line.count - 1, "\(name): newline inside the line")
        }
        cursor.consume(line, name)
        if line.last != 10 && limit != 0 && (limit < 0 || line.count < limit) {
            check(cursor.atEnd, "\(name): unterminated line before the end of the stream")
        }
        if line.isEmpty && limit != 0 { check(cursor.atEnd, "\(name): empty result before the end") }
    }

    private mutating func line(_ result: [UInt8]?, limit: Int, name: String) {
        guard let line = result else { return allowNil(name) }
        checkLine(line, limit: limit, name: name)
    }

    private mutating func lineWithMaxLength(_ maxLength: Int) async throws {
        let name = "readLine(maxLength: \(maxLength))"
        do {
            guard let line = try await reader.readLine(maxLength: maxLength) else { return allowNil(name) }
            checkLine(line, limit: maxLength, name: name)
            if line.last != 10 { check(cursor.atEnd, "\(name): unterminated line before the end") }
        } catch let error as IOError where error.kind == .lineTooLong {
            let length = cursor.lengthThrough([10])
            check(length.map { $0 > maxLength } ?? true, "\(name): lineTooLong for a line of \(length ?? -1) bytes")
            check(cursor.remaining.count > maxLength, "\(name): lineTooLong with only \(cursor.remaining.count) bytes left")
            throw error
        }
    }

    private mutating func read(_ count: Int) async throws {
        guard let bytes = try await reader.read(count) else { return allowNil("read(\(count))") }
        cursor.consume(bytes, "read(\(count))")
        if count < 0 || bytes.count < count { checkShort("read(\(count))") }
        check(count < 0 || bytes.count <= count, "read(\(count)) returned \(bytes.count) bytes")
    }

    private mutating func read1(_ count: Int) async throws {
        guard let bytes = try await reader.read1(count) else { return allowNil("read1(\(count))") }
        cursor.consume(bytes, "read1(\(count))")
        check(count < 0 || bytes.count <= count, "read1(\(count)) returned \(bytes.count) bytes")
        if bytes.isEmpty && count != 0 { check(cursor.atEnd, "read1: empty before the end") }
    }

    private mutating func peek() async throws {
        guard let bytes = try await reader.peek() else { return allowNil("peek") }
        check(cursor.continues(with: bytes), "peek: bytes do not continue the stream")
        if bytes.isEmpty { check(cursor.atEnd, "peek: empty before the end") }
    }

    private mutating func readInto(_ count: Int, single: Bool) async throws {
        let name = single ? "readInto1(\(count))" : "readInto(\(count))"
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 1)
        defer { buffer.deallocate() }
        let stored = single ? try await reader.readInto1(buffer) : try await reader.readInto(buffer)
        guard let stored else { return allowNil(name) }
        check((0...count).contains(stored), "\(name) stored \(stored)")
        cursor.consume(Array(buffer[..<stored]), name)
        if !single && stored < count { checkShort(name) }
        if stored == 0 && count > 0 { check(cursor.atEnd, "\(name): 0 before the end") }
    }

    private static let separators: [[UInt8]] = [[13, 10], [0], [97, 98], [10, 10], [97, 97], [120, 121, 122, 119]]

    private mutating func readUntil(_ argument: Int) async throws {
        let separator = Self.separators[argument % Self.separators.count]
        let strict = argument & 8 != 0
        let limit = argument >> 4 == 0 ? -1 : (argument >> 4) * 3
        let name = "read(until: \(separator), limit: \(limit), strict: \(strict))"
        let found = cursor.lengthThrough(separator)
        do {
            guard let bytes = try await reader.read(until: separator, limit: limit, strict: strict) else {
                return allowNil(name)
            }
            check(limit < 0 || bytes.count <= limit, "\(name): over the limit")
            if let found, bytes.count >= found {
                check(bytes.count == found, "\(name): read past the first separator")
            } else {
                // No separator: the limit was reached (not strict) or the stream ended.
                let atLimit = !strict && bytes.count == limit
                check(atLimit || cursor.position + bytes.count == cursor.stream.count,
                      "\(name): \(bytes.count) bytes without separator before the end")
            }
            cursor.consume(bytes, name)
        } catch let error as IOError where error.kind == .lineTooLong {
            check(strict, "\(name): lineTooLong when not strict")
            check(found.map { $0 > limit } ?? true, "\(name): lineTooLong though the separator is within the limit")
            check(cursor.remaining.count > limit, "\(name): lineTooLong with only \(cursor.remaining.count) bytes left")
            throw error
        }
    }

    private mutating func readLines(hint: Int) async throws {
        guard let lines = try await reader.readLines(hint: hint) else { return allowNil("readLines") }
        var total = 0
        for (index, line) in lines.enumerated() {
            check(!line.isEmpty, "readLines: empty line")
            checkLine(line, limit: -1, name: "readLines line")
            total += line.count
            if hint > 0 && index < lines.count - 1 { check(total <= hint, "readLines: read past the hint") }
        }
        if !(hint > 0 && total > hint) { checkShort("readLines(hint: \(hint))") }
    }

    private mutating func nextLine() async throws {
        var iterator = reader.lines.makeAsyncIterator()
        guard let line = try await iterator.next() else {
            return check(cursor.atEnd, "lines ended before the end of the stream")
        }
        check(!line.isEmpty, "lines: empty element")
        checkLine(line, limit: -1, name: "lines.next()")
    }
}
