import GreenIO

/// The commands of `greenio serve --protocol resp`: a small subset of Redis's, enough for
/// `redis-cli` and `redis-benchmark`, on one shared `RESPStore`.
struct RESPCommands: Sendable {
    let store: RESPStore

    /// How many arguments each command takes, its name included.
    private static let arity: [String: ClosedRange<Int>] = [
        "PING": 1...2, "ECHO": 2...2, "GET": 2...2, "SET": 3...8, "DEL": 2...Int.max,
        "EXISTS": 2...Int.max, "INCR": 2...2, "DECR": 2...2, "MGET": 2...Int.max, "MSET": 3...Int.max,
        "DBSIZE": 1...1, "FLUSHALL": 1...2, "FLUSHDB": 1...2, "SELECT": 2...2, "QUIT": 1...Int.max,
        "COMMAND": 1...Int.max, "CONFIG": 2...Int.max, "HELLO": 1...Int.max, "CLIENT": 2...Int.max,
    ]

    /// The parameters `CONFIG GET` knows (`redis-benchmark` asks for these two).
    private static let configuration: [(name: String, value: String)] = [("save", ""), ("appendonly", "no")]

    /// Runs one command (`arguments[0]` is its name, in any case).
    /// - Returns: the reply, and whether the connection closes after it (QUIT).
    func execute(_ arguments: [[UInt8]]) -> (reply: RESPReply, closes: Bool) {
        let name = Self.upper(arguments[0])
        guard let arity = Self.arity[name] else {
            return (.error("ERR unknown command '\(arguments[0].printable)'"), false)
        }
        guard arity.contains(arguments.count) && (name != "MSET" || arguments.count % 2 == 1) else {
            return (.error("ERR wrong number of arguments for '\(name.lowercased())' command"), false)
        }
        if name == "QUIT" { return (.simple("OK"), true) }
        return (reply(to: name, arguments), false)
    }

    private func reply(to name: String, _ a: [[UInt8]]) -> RESPReply {
        switch name {
        case "PING": return a.count == 2 ? .bulk(a[1]) : .simple("PONG")
        case "ECHO": return .bulk(a[1])
        case "GET": return .bulk(store.get(a[1]))
        case "SET": return set(a)
        case "DEL": return .integer(store.delete(a[1...]))
        case "EXISTS": return .integer(store.countExisting(a[1...]))
        case "INCR", "DECR":
            switch store.add(name == "INCR" ? 1 : -1, to: a[1]) {
            case .success(let value): return .integer(value)
            case .failure(.notAnInteger): return .error("ERR value is not an integer or out of range")
            case .failure(.overflow): return .error("ERR increment or decrement would overflow")
            }
        case "MGET": return .array(store.get(a[1...]).map { .bulk($0) })
        case "MSET":
            store.set(pairs: a[1...])
            return .simple("OK")
        case "DBSIZE": return .integer(store.count)
        case "FLUSHALL", "FLUSHDB":
            store.removeAll()
            return .simple("OK")
        case "SELECT": return a[1] == [UInt8(ascii: "0")] ? .simple("OK") : .error("ERR DB index is out of range")
        case "COMMAND": return a.count > 1 && Self.upper(a[1]) == "COUNT" ? .integer(0) : .array([])
        case "CONFIG": return config(a)
        case "HELLO": return hello(a)
        default: return client(a)  // CLIENT: the arity table admits no other name.
        }
    }

    /// SET key value [EX seconds | PX milliseconds] [NX | XX].
    private func set(_ a: [[UInt8]]) -> RESPReply {
        var expiry: Deadline?
        var condition = RESPStore.Condition.always
        var index = 3
        while index < a.count {
            let option = Self.upper(a[index])
            switch option {
            case "NX" where condition == .always: condition = .ifAbsent
            case "XX" where condition == .always: condition = .ifPresent
            case "EX" where expiry == nil && index + 1 < a.count, "PX" where expiry == nil && index + 1 < a.count:
                index += 1
                let unit: Int = option == "EX" ? 1_000_000_000 : 1_000_000
                guard let amount = a[index].decimalInteger, amount > 0,
                      case let (nanoseconds, false) = amount.multipliedReportingOverflow(by: unit) else {
                    return .error("ERR invalid expire time in 'set' command")
                }
                expiry = Deadline.after(.nanoseconds(nanoseconds))
            default: return .error("ERR syntax error")
            }
            index += 1
        }
        return store.set(a[1], a[2], expiry: expiry, condition: condition) ? .simple("OK") : .bulk(nil)
    }

    /// CONFIG GET parameter…: the known parameters among those asked for (`*` for all), as
    /// name-value pairs.
    private func config(_ a: [[UInt8]]) -> RESPReply {
        guard Self.upper(a[1]) == "GET", a.count > 2 else {
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
        switch Self.upper(a[1]) {
        case "SETNAME", "SETINFO": return .simple("OK")
        case "GETNAME": return .bulk(nil)
        default: return .error("ERR unknown subcommand '\(a[1].printable)'. Try CLIENT HELP.")
        }
    }

    private static func upper(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self).uppercased() }

    private static func text(_ string: String) -> RESPReply { .bulk(Array(string.utf8)) }
}
