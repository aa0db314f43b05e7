import GreenIO

/// The commands of a small Redis server (`greenio serve --protocol resp`): PING, ECHO, SET
/// (EX/PX/NX/XX), GET, DEL, EXISTS, INCR, DECR, MGET, MSET, DBSIZE, FLUSHALL, FLUSHDB, SELECT 0,
/// QUIT, and the COMMAND, CONFIG GET, HELLO 2 and CLIENT SETNAME/GETNAME that `redis-cli` and
/// `redis-benchmark` send, on one `RESPStore`, which any number of connections may share.
public struct RESPCommands: Sendable {
    /// The key space.
    public let store: RESPStore

    /// The commands on `store`.
    public init(store: RESPStore) {
        self.store = store
    }

    /// The parameters `CONFIG GET` knows (`redis-benchmark` asks for these two).
    private static let configuration: [(name: String, value: String)] = [("save", ""), ("appendonly", "no")]

    /// Runs one command (`arguments[0]` is its name, in any case), as Redis would: an unknown name,
    /// a wrong number of arguments or bad options get an error reply (`-ERR …`), never a failure.
    /// - Returns: the reply, and whether the connection closes after it (QUIT); an empty
    ///   `arguments` gets an error reply.
    public func execute(_ arguments: [[UInt8]]) -> (reply: RESPReply, closes: Bool) {
        guard let name = arguments.first else { return (.error("ERR empty command"), false) }
        guard let command = RESPCommandName(name) else {
            return (.error("ERR unknown command '\(name.printable)'"), false)
        }
        guard command.arity.contains(arguments.count) && (command != .mset || arguments.count % 2 == 1) else {
            return (.error("ERR wrong number of arguments for '\(command.name.lowercased())' command"), false)
        }
        if command == .quit { return (.simple("OK"), true) }
        return (reply(to: command, arguments), false)
    }

    private func reply(to command: RESPCommandName, _ a: [[UInt8]]) -> RESPReply {
        switch command {
        case .ping: return a.count == 2 ? .bulk(a[1]) : .simple("PONG")
        case .echo: return .bulk(a[1])
        case .get: return .bulk(store.get(a[1]))
        case .set: return set(a)
        case .del: return .integer(store.delete(a[1...]))
        case .exists: return .integer(store.countExisting(a[1...]))
        case .incr, .decr:
            switch store.add(command == .incr ? 1 : -1, to: a[1]) {
            case .success(let value): return .integer(value)
            case .failure(.notAnInteger): return .error("ERR value is not an integer or out of range")
            case .failure(.overflow): return .error("ERR increment or decrement would overflow")
            }
        case .mget: return .array(store.get(a[1...]).map { .bulk($0) })
        case .mset:
            store.set(pairs: a[1...])
            return .simple("OK")
        case .dbsize: return .integer(store.count)
        case .flushall, .flushdb:
            store.removeAll()
            return .simple("OK")
        case .select: return a[1] == [UInt8(ascii: "0")] ? .simple("OK") : .error("ERR DB index is out of range")
        case .command: return a.count > 1 && RESPCommandName.matches(a[1], "COUNT") ? .integer(0) : .array([])
        case .config: return config(a)
        case .hello: return hello(a)
        case .client: return client(a)
        case .quit: return .simple("OK")
        }
    }

    /// SET key value [EX seconds | PX milliseconds] [NX | XX].
    private func set(_ a: [[UInt8]]) -> RESPReply {
        var expiry: Deadline?
        var condition = RESPStore.Condition.always
        var index = 3
        while index < a.count {
            let option = a[index]
            let seconds = RESPCommandName.matches(option, "EX")
            if condition == .always && RESPCommandName.matches(option, "NX") {
                condition = .ifAbsent
            } else if condition == .always && RESPCommandName.matches(option, "XX") {
                condition = .ifPresent
            } else if expiry == nil && index + 1 < a.count && (seconds || RESPCommandName.matches(option, "PX")) {
                index += 1
                let unit: Int = seconds ? 1_000_000_000 : 1_000_000
                guard let amount = a[index].decimalInteger, amount > 0,
                      case let (nanoseconds, false) = amount.multipliedReportingOverflow(by: unit) else {
                    return .error("ERR invalid expire time in 'set' command")
                }
                expiry = Deadline.after(.nanoseconds(nanoseconds))
            } else {
                return .error("ERR syntax error")
            }
            index += 1
        }
        return store.set(a[1], a[2], expiry: expiry, condition: condition) ? .simple("OK") : .bulk(nil)
    }

    /// CONFIG GET parameter…: the known parameters among those asked for (`*` for all), as
    /// name-value pairs.
    private func config(_ a: [[UInt8]]) -> RESPReply {
        guard RESPCommandName.matches(a[1], "GET"), a.count > 2 else {
            return .error("ERR unknown subcommand '\(a[1].printable)'. Try CONFIG HELP.")
        }
        let wanted = Set(a[2...].map { String(decoding: $0, as: UTF8.self).lowercased() })
        let pairs = Self.configuration.filter { wanted.contains($0.name) || wanted.contains("*") }
        return .array(pairs.flatMap { [Self.text($0.name), Self.text($0.value)] })
    }

    /// HELLO [2 …]: the server's description; protocol 3 is not supported.
    private func hello(_ a: [[UInt8]]) -> RESPReply {
        if a.count > 1 && a[1].decimalInteger != 2 {
            return .error("NOPROTO sorry, this protocol version is not supported")
        }
        return .array([Self.text("server"), Self.text("greenio"), Self.text("version"), Self.text("1.0.0"),
                       Self.text("proto"), .integer(2), Self.text("mode"), Self.text("standalone"),
                       Self.text("role"), Self.text("master"), Self.text("modules"), .array([])])
    }

    /// CLIENT SETNAME / SETINFO (accepted and ignored) and GETNAME (no name).
    private func client(_ a: [[UInt8]]) -> RESPReply {
        if RESPCommandName.matches(a[1], "SETNAME") || RESPCommandName.matches(a[1], "SETINFO") { return .simple("OK") }
        if RESPCommandName.matches(a[1], "GETNAME") { return .bulk(nil) }
        return .error("ERR unknown subcommand '\(a[1].printable)'. Try CLIENT HELP.")
    }

    private static func text(_ string: String) -> RESPReply { .bulk(Array(string.utf8)) }
}
