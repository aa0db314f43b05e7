import Dispatch
import Synchronization

/// A value set once, which any number of threads (blocking) or tasks (awaiting) wait for.
final class OneShot<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var waiters: [@Sendable (Value) -> Void] = []
    }
    private let state = Mutex(State())

    init() {}

    /// Sets the value and wakes every waiter; later calls are ignored.
    func fulfill(_ value: Value) {
        let waiters: [@Sendable (Value) -> Void]? = state.withLock { state in
            guard state.value == nil else { return nil }
            state.value = value
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters ?? [] { waiter(value) }
    }

    /// The value if it is set.
    var current: Value? { state.withLock { $0.value } }

    /// Calls `body` with the value once it is set (at once, on this thread, if it is).
    func whenFulfilled(_ body: @escaping @Sendable (Value) -> Void) {
        let value: Value? = state.withLock { state in
            if state.value == nil { state.waiters.append(body) }
            return state.value
        }
        if let value { body(value) }
    }

    /// Blocks the calling thread until the value is set. Never call it on a hub thread whose
    /// green threads would set it.
    func waitBlocking() -> Value {
        let semaphore = DispatchSemaphore(value: 0)
        whenFulfilled { _ in semaphore.signal() }
        while true {
            if let value = current { return value }
            semaphore.wait()
        }
    }

    /// Waits for the value without blocking a thread.
    func value() async -> Value {
        await withCheckedContinuation { continuation in
            whenFulfilled { continuation.resume(returning: $0) }
        }
    }
}
