import CGreenIO
import COpenSSL

/// Memory while idle: a TLS connection's buffers — OpenSSL's record buffers (about 17 KiB for
/// reading and as much for writing) and the BIO's read-ahead buffer — are given back once a read
/// wait has lasted `Hub.idleReleaseDelayNanoseconds`, not on every wait. OpenSSL's own way,
/// `SSL_MODE_RELEASE_BUFFERS`, frees them after every record, which on a busy connection is a
/// `malloc`/`free` pair of each per read and per write.
extension TLSSocket: IdleReleasable {
    /// Marks the start of a read wait (or of a non-blocking would-block) and has the hub release
    /// the buffers if it lasts.
    func beginIdle() {
        idleSince = cgreenio_monotonic_ns()
        Hub.current?.releaseWhenIdle(self)
    }

    /// Frees OpenSSL's record buffers (`SSL_free_buffers`, which keeps them while they hold data)
    /// and the BIO's read-ahead buffer if it is empty. Hub thread only; allocated again when needed.
    func releaseIdleMemory() {
        guard let ssl else { return }
        _ = SSL_free_buffers(ssl)
        transport.releaseIfEmpty()
        idleReleaseCount += 1
    }
}
