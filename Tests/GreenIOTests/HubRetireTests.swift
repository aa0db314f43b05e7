import Glibc
import Testing
@testable import GreenIO

/// A weak reference that can cross threads (checked by polling).
private final class HubWeakBox: @unchecked Sendable {
    weak var hub: Hub?
}

/// A hub whose loop has ended for good must be freed (closing its epoll instance and eventfd) even
/// when descriptors are still registered with it: a registration refers to its hub, and the hub's
/// table refers to the registration, so without care the two keep each other alive for ever.
/// (Found by LeakSanitizer: the greenio CLI leaked its main hub.)
@Suite("Hub retirement", .timeLimit(.minutes(1)), .serialized)
struct HubRetireTests {
    @Test("A stopped hub thread is freed although a raw descriptor it waited on is still registered")
    func stoppedHubIsFreed() async throws {
        let (readEnd, writeEnd) = hubRawPipe()
        defer {
            close(readEnd)
            close(writeEnd)
        }
        let box = HubWeakBox()
        do {
            let hub = try Hub.startThread(name: "hub-retire")
            box.hub = hub
            let outcome = await hubResult(of: hub.spawn { () -> Int in
                guard let current = Hub.current else { return -1 }
                try await current.wait(for: .read, on: readEnd, deadline: .after(.milliseconds(10)))
                return current.statistics.registeredDescriptors
            })
            #expect(hubIOErrorKind(outcome) == .timedOut)
            hub.stop()
            try await hubEventually { hub.hasFinished }
        }
        try await hubEventually(limit: .seconds(10)) { box.hub == nil }
        // The hub never closes a descriptor it was only asked to wait on.
        #expect(descriptorIsOpen(readEnd))
    }

    @Test("A socket that outlives Hub.run still closes its descriptor, and the hub is freed")
    func socketOutlivesRun() async throws {
        let box = HubWeakBox()
        let socket = try await hubOnNewThread { () -> Socket in
            try Hub.run { () -> Socket in
                box.hub = Hub.current
                let (a, b) = try Socket.pair()
                b.close()
                return a
            }
        }
        let fd = socket.fileDescriptor
        #expect(descriptorIsOpen(fd))
        // The socket keeps its hub (and registration) until it is closed.
        #expect(box.hub != nil)
        socket.close()
        #expect(socket.fileDescriptor == -1)
        try await hubEventually(limit: .seconds(10)) { box.hub == nil }
        await expectIOError(.system, errno: EBADF) { try await socket.recv(1) }
    }
}
