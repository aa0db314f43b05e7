import Glibc
import Testing
@testable import GreenIO

/// `greenio serve --protocol resp` driven by Debian's `redis-cli` and `redis-benchmark`.
@Suite("CLI RESP redis-cli", .timeLimit(.minutes(1)))
struct CLIRESPRedisCLITests {
    @Test("redis-cli round trips: strings, counters, multi-key commands, DBSIZE, FLUSHALL, PING, ECHO, unknown",
          arguments: [false, true])
    func roundTrips(tls: Bool) async throws {
        let server = try startRESPServer(tls ? ["--tls"] : [])
        defer { server.terminate() }
        try await onHub(limit: .seconds(50)) {
            let port = try await servePort(server, tls: tls)
            func cli(_ arguments: String...) async throws -> String {
                let run = try await runRedisTool("redis-cli", redisCLIOptions(port: port, tls: tls) + arguments)
                #expect(run.status == 0, "redis-cli \(arguments): \(run.errors)")
                return run.output.hasSuffix("\n") ? String(run.output.dropLast()) : run.output
            }
            #expect(try await cli("PING") == "PONG")
            #expect(try await cli("PING", "hello") == "\"hello\"")
            #expect(try await cli("ECHO", "hi there") == "\"hi there\"")
            #expect(try await cli("SET", "greeting", "hello") == "OK")
            #expect(try await cli("GET", "greeting") == "\"hello\"")
            #expect(try await cli("GET", "missing") == "(nil)")
            #expect(try await cli("INCR", "counter") == "(integer) 1")
            #expect(try await cli("INCR", "counter") == "(integer) 2")
            #expect(try await cli("DECR", "counter") == "(integer) 1")
            #expect(try await cli("INCR", "greeting") == "(error) ERR value is not an integer or out of range")
            #expect(try await cli("MSET", "a", "1", "b", "2", "c", "3") == "OK")
            #expect(try await cli("MGET", "a", "missing", "c") == "1) \"1\"\n2) (nil)\n3) \"3\"")
            #expect(try await cli("EXISTS", "a", "b", "missing", "a") == "(integer) 3")
            #expect(try await cli("DEL", "a", "b", "missing") == "(integer) 2")
            #expect(try await cli("DBSIZE") == "(integer) 3")
            #expect(try await cli("NOSUCH", "x") == "(error) ERR unknown command 'NOSUCH'")
            #expect(try await cli("GET") == "(error) ERR wrong number of arguments for 'get' command")
            #expect(try await cli("FLUSHALL") == "OK")
            #expect(try await cli("DBSIZE") == "(integer) 0")
        }
    }

    @Test("SET with PX or EX: the key is there until it expires, then GET gives nil")
    func expiry() async throws {
        let server = try startRESPServer()
        defer { server.terminate() }
        try await onHub(limit: .seconds(30)) {
            let port = try await server.listeningPort()
            #expect(try await redisCLI(port: port, "SET", "short", "v", "PX", "300") == "OK")
            #expect(try await redisCLI(port: port, "SET", "long", "w", "EX", "100") == "OK")
            #expect(try await redisCLI(port: port, "SET", "bad", "x", "PX", "0")
                        == "(error) ERR invalid expire time in 'set' command")
            try await Hub.sleep(for: .milliseconds(500))
            #expect(try await redisCLI(port: port, "GET", "short") == "(nil)")
            #expect(try await redisCLI(port: port, "GET", "long") == "\"w\"")
            #expect(try await redisCLI(port: port, "SET", "long", "again", "NX") == "(nil)")
            #expect(try await redisCLI(port: port, "SET", "short", "back", "XX") == "(nil)")
            #expect(try await redisCLI(port: port, "SET", "short", "back", "NX") == "OK")
        }
    }

    @Test("redis-cli reading commands from standard input (it starts with COMMAND DOCS)")
    func commandsOnStandardInput() async throws {
        let server = try startRESPServer()
        defer { server.terminate() }
        try await onHub(limit: .seconds(30)) {
            let port = try await server.listeningPort()
            let input = "SET k 1\nINCR k\nGET k\nMGET k nokey\nPING\nBOGUS 1 2\nECHO \"two words\"\nDBSIZE\n"
            let run = try await runRedisTool("redis-cli", redisCLIOptions(port: port, tls: false), input: input)
            #expect(run.status == 0, "\(run.errors)")
            #expect(run.output == """
                OK
                (integer) 2
                "2"
                1) "2"
                2) (nil)
                PONG
                (error) ERR unknown command 'BOGUS'
                "two words"
                (integer) 1

                """)
        }
    }

    @Test("redis-benchmark -t ping,set,get -n 20000 -P 16 completes without errors")
    func benchmark() async throws {
        let server = try startRESPServer()
        defer { server.terminate() }
        try await onHub(limit: .seconds(50)) {
            let port = try await server.listeningPort()
            let run = try await runRedisTool("redis-benchmark", [
                "-h", "127.0.0.1", "-p", "\(port)", "-t", "ping,set,get", "-n", "20000", "-P", "16", "-q",
            ], within: .seconds(45))
            #expect(run.status == 0, "\(run.errors)")
            let results = benchmarkResults(run.output)
            #expect(Set(results.keys) == ["PING_INLINE", "PING_MBULK", "SET", "GET"], "\(run.output)")
            #expect(results.values.allSatisfy { $0 > 0 }, "\(results)")
            let everything = run.output + run.errors
            #expect(!everything.contains("rror") && !everything.contains("WARN"), "\(everything)")
            // It sets one key, "key:__rand_int__" (without -r).
            #expect(try await redisCLI(port: port, "DBSIZE") == "(integer) 1")
            #expect(try await redisCLI(port: port, "EXISTS", "key:__rand_int__") == "(integer) 1")
        }
    }
}
