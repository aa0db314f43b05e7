import GreenIO

// The checks about bytes: round trip, partial sends, random chunking.

extension ConformanceProbe {
    func checkRoundTrip() async throws {
        let (a, b) = try await pair(.timeout(Self.patience))
        // Messages larger than one filling send (`chunk`), sent while the peer receives.
        let there = Self.pattern(200_000, seed: seed)
        let back = Self.pattern(150_000, seed: seed &+ 1)
        for (from, to, message, name) in [(a, b, there, "a"), (b, a, back, "b")] {
            guard let hub = Hub.current else { throw CheckFailure("not on a hub") }
            let sender = hub.spawn { [self] in try await sendAll(from, message) }
            let got = try await receiveExactly(to, message.count)
            try await sender.value
            if let index = zip(got, message).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
                fail("the \(message.count) bytes \(name) sent arrived changed at offset \(index)")
            }
        }
    }

    func checkPartialSends() async throws {
        let (a, b) = try await pair(.timeout(Self.patience))
        try a.setTimeout(.nonBlocking)
        let stream = Self.pattern(Self.chunk * 4, seed: seed)
        var taken = 0
        var sends = 0
        sending: while true {
            // Offer the stream from where the sends have got to, so the bytes tell what was taken.
            let start = taken % stream.count
            let piece = stream[start..<min(stream.count, start + Self.chunk)]
            switch try await send(a, piece, deadline: nil) {
            case .completed(let n):
                if n == 0 { throw CheckFailure("a non-blocking send of \(piece.count) bytes took none without would-block") }
                taken += n
                sends += 1
                if taken > traits.fillLimit {
                    throw CheckFailure("non-blocking sends took \(taken) bytes without would-block (Traits.fillLimit)")
                }
            case .wouldBlock:
                break sending
            }
        }
        let got = try await receiveExactly(b, taken)
        if let index = (0..<taken).first(where: { got[$0] != stream[$0 % stream.count] }) {
            fail("\(sends) sends reported \(taken) bytes taken; the bytes received differ from those sent at offset \(index)")
        }
        try b.setTimeout(.nonBlocking)
        let extra = try await receive(b, deadline: nil)
        if case .bytes(let bytes) = extra {
            fail("\(sends) sends reported \(taken) bytes taken, but \(bytes.count) more bytes arrived")
        }
    }

    func checkRandomChunking() async throws {
        let (a, b) = try await pair(.timeout(Self.patience))
        let total = traits.randomChunkingBytes
        let data = Self.pattern(total, seed: seed)
        let sendSeed = seed
        guard let hub = Hub.current else { throw CheckFailure("not on a hub") }
        let sender = hub.spawn { [self] in
            var sizes = SeededGenerator(seed: sendSeed &+ 2)
            var offset = 0
            while offset < total {
                // Pieces of 0 to 5000 bytes, and now and then a turn for the receiver.
                let n = Int(sizes.next() % 5001)
                let piece = data[offset..<min(total, offset + n)]
                switch try await send(a, piece, deadline: .after(Self.patience)) {
                case .completed(let taken):
                    if taken == 0 && !piece.isEmpty {
                        throw CheckFailure("a send of \(piece.count) bytes took none (seed \(sendSeed))")
                    }
                    offset += taken
                case .wouldBlock(let interest):
                    throw CheckFailure("a send in timeout mode reported would-block (\(interest))")
                }
                if sizes.next() % 8 == 0 { try await Hub.yield() }
            }
            try a.shutdown(.write)
        }
        var sizes = SeededGenerator(seed: seed &+ 3)
        var got: [UInt8] = []
        receiving: while got.count <= total {
            let count = 1 + Int(sizes.next() % 4000)
            switch try await receive(b, count, deadline: .after(Self.patience)) {
            case .bytes(let bytes): got += bytes
            case .end: break receiving
            case .wouldBlock(let interest):
                throw CheckFailure("a receive in timeout mode reported would-block (\(interest))")
            }
        }
        try await sender.value
        if got != data {
            let index = zip(got, data).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(got.count, data.count)
            fail("sent \(total) bytes, received \(got.count), first difference at offset \(index) (seed \(seed))")
        }
    }
}
