/// What a file object does after one of its reads timed out.
public enum TimeoutPolicy: Sendable, Hashable {
    /// CPython's rule (bpo-7322): every later read of this file object fails with
    /// "cannot read from timed out object". The socket and other file objects stay usable.
    case latch
    /// Go/asyncio style: the timeout is reported once and the next read simply continues.
    /// A single raw read that times out has consumed nothing, and the buffered layer keeps what it
    /// had gathered, so nothing is missing when it does. (The raw object's own `readLine` and
    /// `readAll` drop a partial result on a timeout, as in CPython.)
    case resumable
}
