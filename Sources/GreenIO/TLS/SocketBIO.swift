import COpenSSL
import Glibc

/// The OpenSSL BIO through which a `TLSSocket` reads and writes its descriptor.
///
/// OpenSSL's own socket BIO writes with `write(2)`, which raises SIGPIPE when the peer has gone and by
/// default kills the process. This BIO sends with `MSG_NOSIGNAL`, as plain GreenIO sockets do, so a
/// write to a vanished peer is just an `EPIPE` error and GreenIO never has to touch the process's
/// signal handling. Would-block results set OpenSSL's retry flags, which is what turns them into
/// WANT_READ / WANT_WRITE; the end of the stream sets the end-of-file flag, as OpenSSL's socket BIO
/// does. The BIO never closes the descriptor.
enum SocketBIO {
    /// The method table, made once.
    nonisolated(unsafe) static let method: OpaquePointer? = {
        guard let method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "greenio socket") else { return nil }
        // The classic int-returning callbacks: -1 with `errno` on failure, as OpenSSL's socket BIO
        // reports it (an `_ex` callback's 0 would read as an end of stream).
        _ = BIO_meth_set_write(method) { bio, data, length in
            guard let bio else { return -1 }
            greenio_BIO_clear_retry_flags(bio)
            let n = Glibc.send(SocketBIO.descriptor(of: bio), data, Int(max(length, 0)), Int32(MSG_NOSIGNAL))
            if n < 0 && (errno == EAGAIN || errno == EINTR) { greenio_BIO_set_retry_write(bio) }
            return Int32(n)
        }
        _ = BIO_meth_set_read(method) { bio, data, length in
            guard let bio, let data else { return 0 }
            greenio_BIO_clear_retry_flags(bio)
            let n = Glibc.recv(SocketBIO.descriptor(of: bio), data, Int(max(length, 0)), 0)
            if n == 0 {
                // OpenSSL 3 asks `BIO_eof` to tell a TCP close without close_notify from an error.
                BIO_set_flags(bio, BIO_FLAGS_IN_EOF)
            } else if n < 0 && (errno == EAGAIN || errno == EINTR) {
                greenio_BIO_set_retry_read(bio)
            }
            return Int32(n)
        }
        _ = BIO_meth_set_ctrl(method) { bio, command, _, pointer in
            switch command {
            case BIO_CTRL_FLUSH, BIO_CTRL_DUP:
                return 1
            case BIO_CTRL_EOF:
                return BIO_test_flags(bio, BIO_FLAGS_IN_EOF) != 0 ? 1 : 0
            case BIO_C_GET_FD:
                guard let bio else { return -1 }
                let fd = SocketBIO.descriptor(of: bio)
                pointer?.assumingMemoryBound(to: Int32.self).pointee = fd
                return Int(fd)
            default:
                return 0
            }
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
