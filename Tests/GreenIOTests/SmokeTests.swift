import Glibc
import Testing
@testable import GreenIO

@Suite("Smoke", .timeLimit(.minutes(1)))
struct SmokeTests {
    @Test("a socketpair echoes through two green threads")
    func socketPairEcho() async throws {
        let reply = try await onHub {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let hub = Hub.current!
            hub.spawn {
                let data = try await b.recv(100)
                try await b.sendAll(data.reversed())
            }
            try await a.sendAll(bytes("hello"))
            return try await a.recv(100)
        }
        #expect(reply == bytes("olleh"))
    }
}

@Suite("Hub slow-job detection", .timeLimit(.minutes(1)))
struct HubSlowJobTests {
    @Test("a green thread that blocks the hub thread is reported; quick ones are not")
    func slowJobIsReported() async throws {
        let reports = try await onHub {
            let hub = Hub.current!
            let collected = Reports()
            hub.slowJobHandler = { collected.append($0) }
            hub.slowJobThreshold = .milliseconds(150)
            defer { hub.slowJobThreshold = nil }
            try await Hub.sleep(for: .milliseconds(1))
            let quick = collected.count
            usleep(300_000)  // blocks the hub thread: exactly what the option is for
            try await Hub.sleep(for: .milliseconds(1))
            return (quick, collected.durations)
        }
        #expect(reports.0 == 0)
        #expect(reports.1.count == 1)
        #expect(reports.1.allSatisfy { $0 >= .milliseconds(250) })
    }
}

private final class Reports: @unchecked Sendable {
    var durations: [Duration] = []
    var count: Int { durations.count }
    func append(_ duration: Duration) { durations.append(duration) }
}

@Suite("Buffered smoke", .timeLimit(.minutes(1)))
struct BufferedSmokeTests {
    @Test("readline over a socketpair returns lines split across writes, then the tail at EOF")
    func readlineSmoke() async throws {
        let lines = try await onHub {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let reader = try a.makeReader(bufferSize: 4)
            defer { reader.close() }
            Hub.current!.spawn {
                for chunk in ["hel", "lo\nwor", "ld\n\nta", "il"] {
                    try await b.sendAll(bytes(chunk))
                    try await Hub.sleep(for: .milliseconds(2))
                }
                b.close()
            }
            var lines: [String] = []
            while let line = try await reader.readLine(), !line.isEmpty {
                lines.append(String(decoding: line, as: UTF8.self))
            }
            return lines
        }
        #expect(lines == ["hello\n", "world\n", "\n", "tail"])
    }
}

@Suite("Text makefile smoke", .timeLimit(.minutes(1)))
struct TextMakefileSmokeTests {
    @Test("makefile('rw') is text over a pair; lines and newlines round-trip through a socketpair")
    func textRoundTrip() async throws {
        let (line, mode, name, closedName) = try await onHub {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            guard let text = try a.makefile("rw", newline: .crlf).text else { throw IOError.invalidArgument("not text") }
            let peer = try b.makeTextFile("rw")
            try await text.write("héllo\n")
            try await text.flush()
            let got = try await peer.readLine()
            let name = text.name
            try await text.close()
            try await peer.close()
            return (got, text.mode, name, text.name)
        }
        #expect(line == "héllo\n")  // "\r\n" on the wire, translated back by universal newlines
        #expect(mode == "rw")
        #expect(name >= 0)
        #expect(closedName == -1)
    }
}

@Suite("waitUntilReadable", .timeLimit(.minutes(1)))
struct WaitUntilReadableTests {
    @Test("a plain socket waits for bytes or the end of the stream, and times out on an idle peer; nothing is consumed")
    func plain() async throws {
        try await onHub(limit: .seconds(20)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(seconds: 0.05)
            await expectIOError(.timedOut) { try await a.waitUntilReadable(deadline: nil) }
            Hub.current!.spawn {
                try await Hub.sleep(for: .milliseconds(20))
                try await b.sendAll(bytes("x"))
            }
            try a.setTimeout(seconds: 5)
            try await a.waitUntilReadable(deadline: nil)
            #expect(try await a.recv(10) == bytes("x"))
            b.close()
            try await a.waitUntilReadable(deadline: nil)
            #expect(try await a.recv(10) == [])
        }
    }

    @Test("after a short receive (no peek): bytes that came in between end the wait at once, later bytes end it when they come, none times out")
    func afterShortReceive() async throws {
        try await onHub(limit: .seconds(20)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(seconds: 5)
            try await b.sendAll(bytes("x"))
            #expect(try await a.recv(100) == bytes("x"))  // short: the queue was empty after it
            try await b.sendAll(bytes("y"))               // arrives before the wait starts
            let start = Deadline.now
            try await a.waitUntilReadable(deadline: nil)
            #expect(seconds(since: start) < 2.5, "bytes already there must end the wait at once")
            #expect(try await a.recv(100) == bytes("y"))
            Hub.current!.spawn {
                try await Hub.sleep(for: .milliseconds(30))
                try await b.sendAll(bytes("z"))
            }
            try await a.waitUntilReadable(deadline: nil)
            #expect(try await a.recv(100) == bytes("z"))
            try a.setTimeout(seconds: 0.05)
            await expectIOError(.timedOut) { try await a.waitUntilReadable(deadline: nil) }
            // A full-buffer receive leaves bytes behind: the next wait peeks and returns at once.
            try a.setTimeout(seconds: 5)
            try await b.sendAll(bytes("abcdef"))
            try await Hub.sleep(for: .milliseconds(20))
            #expect(try await a.recv(3) == bytes("abc"))
            let again = Deadline.now
            try await a.waitUntilReadable(deadline: nil)
            #expect(seconds(since: again) < 2.5)
            #expect(try await a.recv(100) == bytes("def"))
        }
    }

    @Test("after a short receive, an end of stream that came with the data still ends the wait (socket pair and TCP)",
          arguments: ["pair", "tcp"])
    func endOfStreamBehindData(kind: String) async throws {
        try await onHub(limit: .seconds(20)) {
            for round in 0..<20 {
                // The data and the FIN leave together, so one epoll report covers both and wakes
                // the parked reader; nothing further will come.
                let (c, d): (Socket, Socket) = kind == "pair" ? try Socket.pair() : try await tcpPair()
                defer { c.close(); d.close() }
                try c.setTimeout(seconds: 3)
                Hub.current!.spawn {
                    try await Hub.sleep(for: .milliseconds(5))
                    try await d.sendAll(bytes("last \(round)\n"))
                    try d.shutdown(.write)
                }
                try await c.waitUntilReadable(deadline: nil)
                #expect(try await c.recv(100) == bytes("last \(round)\n"))  // short
                let start = Deadline.now
                try await c.waitUntilReadable(deadline: nil)  // must not wait for an edge that never comes
                #expect(seconds(since: start) < 2, "round \(round)")
                #expect(try await c.recv(100) == [])
            }
        }
    }

    @Test("a TLS socket returns at once when OpenSSL holds bytes, waits otherwise, with TLS's timeout message")
    func tls() async throws {
        let identity = try TLSIdentity.selfSigned()
        try await onHub(limit: .seconds(20)) {
            let (a, b) = try Socket.pair()
            let server = try TLSContext.server(identity: identity)
            let client = try TLSContext.client(verification: .trustedCertificatesPEM(identity.certificateChainPEM))
            let serverSide = Hub.current!.spawn { try await TLSSocket.wrap(b, context: server) }
            let c = try await TLSSocket.wrap(a, context: client, serverHostname: "localhost")
            let s = try await serverSide.value
            defer { c.close(); s.close() }
            try await s.sendAll(Array(repeating: 65, count: 100))
            try c.setTimeout(seconds: 5)
            try await c.waitUntilReadable(deadline: nil)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 10, alignment: 1)
            defer { buffer.deallocate() }
            #expect(try await c.receive(into: buffer, deadline: nil) == .completed(10))
            #expect(c.pending == 90)
            try await c.waitUntilReadable(deadline: .after(.milliseconds(1)))  // bytes held: no wait
            #expect(try await c.receive(into: UnsafeMutableRawBufferPointer(rebasing: buffer[...]), deadline: nil) == .completed(10))
            let rest = UnsafeMutableRawBufferPointer.allocate(byteCount: 80, alignment: 1)
            defer { rest.deallocate() }
            #expect(try await c.receive(into: rest, deadline: nil) == .completed(80))
            let error = await expectIOError(.timedOut) { try await c.waitUntilReadable(deadline: .after(.milliseconds(50))) }
            #expect(error?.message == "The read operation timed out")
        }
    }
}
