import COpenSSL
import Glibc

/// The OpenSSL BIO through which a `TLSSocket` reads and writes its descriptor.
///
/// OpenSSL's own socket BIO writes with `write(2)`, which raises SIGPIPE when the peer has gone and by
/// default kills the process. This BIO sends with `MSG_NOSIGNAL`, as plain GreenIO sockets do, so a
/// write to a vanished peer is just an `EPIPE` error and GreenIO never has to touch the process's
/// signal handling. Would-block results set OpenSSL's retry flags, which is what turns them into
/// WANT_READ / WANT_WRITE.
enum SocketBIO {
    /// The method table, made once.
    nonisolated(unsafe) static let method: OpaquePointer? = {
        guard let method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "greenio socket") else { return nil }
        _ = BIO_meth_set_write_ex(method) { bio, data, length, written in
            guard let bio else { return 0 }
            greenio_BIO_clear_retry_flags(bio)
            let n = Glibc.send(SocketBIO.descriptor(of: bio), data, length, Int32(MSG_NOSIGNAL))
            if n >= 0 {
                written?.pointee = n
                return 1
            }
            if errno == EAGAIN || errno == EINTR { greenio_BIO_set_retry_write(bio) }
            written?.pointee = 0
            return 0
        }
        _ = BIO_meth_set_read_ex(method) { bio, data, length, read in
            guard let bio else { return 0 }
            greenio_BIO_clear_retry_flags(bio)
            let n = Glibc.recv(SocketBIO.descriptor(of: bio), data, length, 0)
            if n > 0 {
                read?.pointee = n
                return 1
            }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { greenio_BIO_set_retry_read(bio) }
            read?.pointee = 0
            return 0
        }
        _ = BIO_meth_set_ctrl(method) { _, command, _, _ in
            command == BIO_CTRL_FLUSH ? 1 : 0
        }
        _ = BIO_meth_set_create(method) { bio in
            BIO_set_init(bio, 1)
            return 1
        }
        return method
    }()

    /// A BIO over `fd` (which it does not own).
    static func make(fd: Int32) -> OpaquePointer? {
        guard let method, let bio = BIO_new(method) else { return nil }
        BIO_set_data(bio, UnsafeMutableRawPointer(bitPattern: Int(fd) + 1))
        return bio
    }

    static func descriptor(of bio: OpaquePointer) -> Int32 {
        Int32(truncatingIfNeeded: Int(bitPattern: BIO_get_data(bio)) - 1)
    }
}
