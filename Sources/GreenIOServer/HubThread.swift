import CGreenIO
import GreenIO
import Glibc

/// Starts the threads a server's hubs run on.
enum HubThread {
    /// Starts a thread named `name` that blocks SIGINT and SIGTERM (so they reach the thread
    /// waiting for them, not a hub) and runs `body`. The corresponding C function is
    /// `pthread_create`.
    /// - Throws: `IOError` `.system` (`EAGAIN`) if the thread cannot be created.
    static func start(name: String, _ body: @escaping @Sendable () -> Void) throws {
        let start = Unmanaged.passRetained(ThreadBody(name: name, body: body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            let start = Unmanaged<ThreadBody>.fromOpaque(raw).takeRetainedValue()
            cgreenio_set_thread_name(start.name)
            StopSignals.blockInThisThread()
            start.body()
            return nil
        }, start)
        guard result == 0 else {
            Unmanaged<ThreadBody>.fromOpaque(start).release()
            throw IOError.system(Errno(rawValue: result))
        }
        pthread_detach(thread)
    }
}

private final class ThreadBody {
    let name: String
    let body: @Sendable () -> Void
    init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }
}
