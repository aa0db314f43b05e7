/// The direction a green thread waits for on a file descriptor.
public enum Interest: Sendable, Hashable, CustomStringConvertible {
    /// Wait until the descriptor is readable (or the peer closed, or an error is pending).
    case read
    /// Wait until the descriptor is writable (or the peer closed, or an error is pending).
    case write

    /// "read" or "write", as in the `.busy` error's message.
    public var description: String { self == .read ? "read" : "write" }
}

/// Which of the two wait slots of one direction a waiter takes.
///
/// A plain socket has one reader and one writer, so it always uses `.primary`, and a second green
/// thread waiting in the same direction fails at once with an `IOError` of kind `.busy`
/// (eventlet's rule). A TLS socket's writer may need to wait for readability while its reader also
/// waits for it (and the reader may need writability): such a socket type puts those waits in the
/// `.secondary` slot, which allows exactly one more waiter per direction.
///
/// Plumbing for socket types of your own that wait on a descriptor (``Hub``'s
/// `wait(for:on:deadline:slot:)`), as ``Socket`` and ``TLSSocket`` do; application code does not
/// need it.
public enum WaitSlot: Sendable, Hashable {
    /// The usual slot: one waiter per direction.
    case primary
    /// The one extra waiter a socket type may allow per direction.
    case secondary
}
