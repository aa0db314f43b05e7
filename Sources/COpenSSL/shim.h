#ifndef GREENIO_COPENSSL_SHIM_H
#define GREENIO_COPENSSL_SHIM_H

// The system's OpenSSL 3 (libssl-dev), and small inline wrappers for the function-like macros
// GreenIO uses: Swift cannot call C macros.

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/bio.h>
#include <openssl/rand.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

static inline int greenio_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}

static inline int greenio_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}

static inline long greenio_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}

static inline long greenio_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_session_cache_mode(ctx, mode);
}

static inline long greenio_SSL_CTX_add_extra_chain_cert(SSL_CTX *ctx, X509 *certificate) {
    return SSL_CTX_add_extra_chain_cert(ctx, certificate);
}

static inline int greenio_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

static inline int greenio_ERR_GET_REASON(unsigned long code) {
    return ERR_GET_REASON(code);
}

static inline int greenio_ERR_GET_LIB(unsigned long code) {
    return ERR_GET_LIB(code);
}

static inline long greenio_SSL_CTX_set_options(SSL_CTX *ctx, long options) {
    return (long)SSL_CTX_set_options(ctx, (uint64_t)options);
}

static inline int greenio_SSL_R_UNEXPECTED_EOF_WHILE_READING(void) { return SSL_R_UNEXPECTED_EOF_WHILE_READING; }
static inline long greenio_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER(void) { return SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER; }
static inline long greenio_SSL_MODE_RELEASE_BUFFERS(void) { return SSL_MODE_RELEASE_BUFFERS; }
static inline long greenio_SSL_SESS_CACHE_CLIENT(void) { return SSL_SESS_CACHE_CLIENT; }
static inline long greenio_SSL_SESS_CACHE_SERVER(void) { return SSL_SESS_CACHE_SERVER; }
static inline long greenio_SSL_OP_NO_RENEGOTIATION(void) { return (long)SSL_OP_NO_RENEGOTIATION; }

/// The ALPN selection callback: picks the first of the server's protocols (in `arg`, wire format)
/// that the client offered.
static inline int greenio_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                                      const unsigned char *in, unsigned int inlen, void *arg) {
    (void)ssl;
    const unsigned char *server = (const unsigned char *)arg;
    unsigned int serverlen = server[0] | ((unsigned int)server[1] << 8);
    unsigned char *selected = NULL;
    if (SSL_select_next_proto(&selected, outlen, server + 2, serverlen, in, inlen) != OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

/// Installs `greenio_alpn_select` with `protocols`: a 2-byte little-endian length, then the
/// protocols in wire format. The buffer must live as long as the context.
static inline void greenio_SSL_CTX_set_alpn_select(SSL_CTX *ctx, unsigned char *protocols) {
    SSL_CTX_set_alpn_select_cb(ctx, greenio_alpn_select, protocols);
}

// A socket BIO that sends with MSG_NOSIGNAL. OpenSSL's own socket BIO (`SSL_set_fd`) writes with
// write(2), which raises SIGPIPE — ending the process by default — when the peer has reset the
// connection (for example a client that disconnects while the server's handshake still has session
// tickets to send). Plain GreenIO sockets send with MSG_NOSIGNAL; TLS sockets must too. Reads,
// retry flags and end-of-file reporting (`BIO_eof`, which OpenSSL 3 uses to detect an unexpected
// EOF) match OpenSSL's socket BIO. The BIO never closes the descriptor.

static inline int greenio_bio_fd(BIO *bio) { return (int)(intptr_t)BIO_get_data(bio); }

static inline int greenio_bio_write(BIO *bio, const char *bytes, int length) {
    errno = 0;
    int count = (int)send(greenio_bio_fd(bio), bytes, (size_t)length, MSG_NOSIGNAL);
    BIO_clear_retry_flags(bio);
    if (count <= 0 && BIO_sock_should_retry(count)) BIO_set_retry_write(bio);
    return count;
}

static inline int greenio_bio_read(BIO *bio, char *bytes, int length) {
    if (bytes == NULL) return 0;
    errno = 0;
    int count = (int)recv(greenio_bio_fd(bio), bytes, (size_t)length, 0);
    BIO_clear_retry_flags(bio);
    if (count <= 0) {
        if (BIO_sock_should_retry(count)) {
            BIO_set_retry_read(bio);
        } else if (count == 0) {
            BIO_set_flags(bio, BIO_FLAGS_IN_EOF);
        }
    }
    return count;
}

static inline int greenio_bio_puts(BIO *bio, const char *text) {
    return greenio_bio_write(bio, text, (int)strlen(text));
}

static inline long greenio_bio_ctrl(BIO *bio, int command, long number, void *pointer) {
    (void)number;
    switch (command) {
    case BIO_C_GET_FD:
        if (pointer != NULL) *(int *)pointer = greenio_bio_fd(bio);
        return greenio_bio_fd(bio);
    case BIO_CTRL_FLUSH:
    case BIO_CTRL_DUP:
        return 1;
    case BIO_CTRL_EOF:
        return BIO_test_flags(bio, BIO_FLAGS_IN_EOF) != 0;
    default:
        return 0;
    }
}

/// Makes the MSG_NOSIGNAL socket BIO method (once per process: the caller keeps it), or NULL.
static inline BIO_METHOD *greenio_make_socket_bio_method(void) {
    BIO_METHOD *method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                                      "greenio socket");
    if (method == NULL) return NULL;
    if (BIO_meth_set_write(method, greenio_bio_write) != 1 || BIO_meth_set_read(method, greenio_bio_read) != 1
        || BIO_meth_set_puts(method, greenio_bio_puts) != 1 || BIO_meth_set_ctrl(method, greenio_bio_ctrl) != 1) {
        BIO_meth_free(method);
        return NULL;
    }
    return method;
}

/// Makes `ssl` read and write the socket `fd` through a BIO of `method` (from
/// `greenio_make_socket_bio_method`), as `SSL_set_fd` does with OpenSSL's socket BIO. Returns 1 on
/// success, 0 on failure.
static inline int greenio_SSL_set_socket(SSL *ssl, int fd, const BIO_METHOD *method) {
    BIO *bio = BIO_new(method);
    if (bio == NULL) return 0;
    BIO_set_data(bio, (void *)(intptr_t)fd);
    BIO_set_init(bio, 1);
    SSL_set_bio(ssl, bio, bio);
    return 1;
}

#endif
