#if os(Linux)
import Glibc
import Synchronization
import GreenIO

/// The state both ends of a scripted pair share, under one lock: the two pipes (0 carries what
/// end 0 sends, 1 what end 1 sends) and each end's own flags and wake-up descriptors.
///
/// Each end has two eventfds, both waited on for readability through the hub: `arrival` is
/// signalled when the end may receive something (bytes, an ending, its own `shutdown(.read)`),
/// `room` when it may send again (window space, or a peer gone). A parked green thread therefore
/// waits on real kernel readiness, as a socket's does: no polling, and a hub that advances a
/// virtual clock while idle sees the wake-up. Signals are written under the lock and descriptors
/// are marked closed under it before they are closed, so a signal never reaches a reused number.
final class ScriptedConnection: Sendable {
    struct End {
        var timeout: TimeoutMode
        /// `close()` was called (file objects may keep the end open).
        var closeRequested = false
        /// The end is really closed: its descriptors are gone.
        var reallyClosed = false
        var fileReferences = 0
        var writeShut = false
        var arrival: Int32
        var room: Int32
        /// The registrations of `arrival` and `room` with the hub the end waits on (made on its
        /// first wait), and that hub.
        var hub: Hub?
        var arrivalRegistration: FDRegistration?
        var roomRegistration: FDRegistration?
    }

    struct State {
        var pipes: [ScriptedPipe]
        var ends: [End]
    }

    let state: Mutex<State>

    /// - Throws: `IOError` `.system` when an eventfd cannot be made.
    init(_ scripts: [Script], timeout: TimeoutMode) throws {
        var descriptors: [Int32] = []
        for _ in 0..<4 {
            do {
                descriptors.append(try EventFD().fileDescriptor)
            } catch {
                for open in descriptors { EventFD(wrapping: open).close() }
                throw error
            }
        }
        let ends = [End(timeout: timeout, arrival: descriptors[0], room: descriptors[1]),
                    End(timeout: timeout, arrival: descriptors[2], room: descriptors[3])]
        state = Mutex(State(pipes: scripts.map(ScriptedPipe.init), ends: ends))
    }

    deinit {
        // Both ends close for real in their deinit; this is a last guard for descriptors.
        state.withLock { state in
            for end in state.ends where !end.reallyClosed {
                EventFD(wrapping: end.arrival).close()
                EventFD(wrapping: end.room).close()
            }
        }
    }
}

extension ScriptedConnection.State {
    /// Wakes whoever waits on `fd` (one eventfd increment: a new edge for the hub).
    static func signal(_ fd: Int32) {
        guard fd >= 0 else { return }
        EventFD(wrapping: fd).signal()
    }

    func signalArrival(_ side: Int) { Self.signal(ends[side].arrival) }
    func signalRoom(_ side: Int) { Self.signal(ends[side].room) }
}
#else
#error("GreenIO supports Linux only: a scripted socket parks its green threads on eventfds")
#endif
