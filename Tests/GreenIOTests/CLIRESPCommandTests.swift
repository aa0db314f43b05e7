import Testing
@testable import GreenIO
@testable import greenio
@testable import GreenIORESP

/// The RESP server's command table and reply encoding, fed directly (no sockets).
@Suite("CLI RESP commands", .timeLimit(.minutes(1)))
struct CLIRESPCommandTests {
    private let commands = RESPCommands(store: RESPStore())

    private func run(_ words: String...) -> String {
        var out: [UInt8] = []
        commands.execute(words.map { Array($0.utf8) }).reply.encode(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @Test("every command name is recognised in any case; names that only look alike are not")
    func names() {
        for command in RESPCommandName.allCases {
            let name = command.name
            #expect(RESPCommandName(Array(name.utf8)) == command)
            #expect(RESPCommandName(Array(name.lowercased().utf8)) == command)
            let mixed = String(name.enumerated().map { $0.offset % 2 == 0 ? Character($0.element.lowercased()) : $0.element })
            #expect(RESPCommandName(Array(mixed.utf8)) == command, "\(mixed)")
        }
        for other in ["", "GE", "GETS", "GET\0", "\0GET", "FLUSHALLX", "COMMANDS", "ping ", "PIN\u{E9}", "{ING"] {
            #expect(RESPCommandName(Array(other.utf8)) == nil, "\(other.debugDescription)")
        }
    }

    @Test("replies: unknown command, wrong arity (lower-case name), SET options in any case, integers of every size")
    func replies() {
        #expect(run("NOPE", "x") == "-ERR unknown command 'NOPE'\r\n")
        #expect(run("get") == "-ERR wrong number of arguments for 'get' command\r\n")
        #expect(run("mset", "a", "1", "b") == "-ERR wrong number of arguments for 'mset' command\r\n")
        #expect(run("set", "k", "v", "nx", "px", "60000") == "+OK\r\n")
        #expect(run("SET", "k", "w", "Nx") == "$-1\r\n")
        #expect(run("SET", "k", "w", "xx", "EX", "0") == "-ERR invalid expire time in 'set' command\r\n")
        #expect(run("SET", "k", "w", "NX", "XX") == "-ERR syntax error\r\n")
        #expect(run("get", "k") == "$1\r\nv\r\n")
        #expect(run("set", "n", "9223372036854775806") == "+OK\r\n")
        #expect(run("incr", "n") == ":9223372036854775807\r\n")
        #expect(run("set", "m", "-9223372036854775807") == "+OK\r\n")
        #expect(run("decr", "m") == ":-9223372036854775808\r\n")
        #expect(run("set", "z", "1") == "+OK\r\n")
        #expect(run("decr", "z") == ":0\r\n")
        #expect(run("Command", "count") == ":0\r\n")
        #expect(run("client", "SetName", "x") == "+OK\r\n")
        #expect(run("config", "get", "appendonly") == "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n")
        #expect(run("mget", "k", "missing") == "*2\r\n$1\r\nv\r\n$-1\r\n")
        #expect(run("dbsize") == ":4\r\n")
        #expect(commands.execute([Array("Quit".utf8)]).closes)
    }

    @Test("integers encode like String(describing:), zero, Int.min and Int.max included")
    func integers() {
        for value in [0, 1, -1, 9, 10, -10, 123_456_789, Int.max, Int.min, Int.min + 1] {
            var out: [UInt8] = []
            RESPReply.integer(value).encode(into: &out)
            #expect(String(decoding: out, as: UTF8.self) == ":\(value)\r\n")
        }
        var bulk: [UInt8] = []
        RESPReply.bulk(Array(repeating: 65, count: 1234)).encode(into: &bulk)
        #expect(bulk.prefix(7) == Array("$1234\r\n".utf8)[...] && bulk.count == 7 + 1234 + 2)
    }
}
