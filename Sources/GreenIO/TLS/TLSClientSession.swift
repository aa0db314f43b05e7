import COpenSSL

/// A TLS session a client can offer when it connects again, so that the server may resume it with
/// an abbreviated handshake (no certificate, no signature): Python's `ssl.SSLSession`.
///
/// Get one from a client connection (``TLSSocket/session``) and pass it to the next
/// ``TLSSocket/wrap(_:context:serverHostname:session:handshake:suppressRaggedEOFs:)`` or
/// ``TLSSocket/connect(host:port:context:serverHostname:session:timeout:)`` to the same server;
/// whether the server took it shows in ``TLSSocket/sessionReused``. A session the server does not accept
/// (expired, its ticket keys rotated away, another server) costs nothing but a full handshake: it is
/// never an error.
///
/// A session holds secret key material: keep it in memory, and offer it only to the server (and
/// server name) it came from. It is immutable and may be shared between threads and connections.
public final class TLSClientSession: @unchecked Sendable {
    /// The `SSL_SESSION` reference this object owns. OpenSSL's sessions are reference-counted and
    /// thread-safe to offer from several connections at once (`SSL_set_session` takes its own
    /// reference, and a TLS 1.3 client copies a session before changing it), hence `Sendable`.
    let pointer: OpaquePointer

    /// Takes the session of `ssl` if it can be resumed (the corresponding C functions are
    /// `SSL_get1_session` and `SSL_SESSION_is_resumable`); nil otherwise — before the handshake,
    /// when the server issued no ticket or session ID, and in TLS 1.3 before its ticket was read.
    init?(resumableFrom ssl: OpaquePointer) {
        guard let session = SSL_get1_session(ssl) else { return nil }
        guard SSL_SESSION_is_resumable(session) == 1 else {
            SSL_SESSION_free(session)
            return nil
        }
        pointer = session
    }

    deinit {
        SSL_SESSION_free(pointer)
    }

    /// Offers the session on the client connection `ssl`, before its handshake. A session OpenSSL
    /// cannot offer (one of a protocol the connection does not allow) is left out: the handshake is
    /// then a full one, as when the server declines it.
    func offer(on ssl: OpaquePointer) {
        _ = SSL_set_session(ssl, pointer)
    }
}
