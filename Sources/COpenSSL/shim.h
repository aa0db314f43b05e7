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
#include <pthread.h>
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

/// The GreenIO socket BIO: OpenSSL's socket BIO, except that writes use `send(MSG_NOSIGNAL)`, so a
/// TLS write to a peer that has gone fails with EPIPE instead of raising SIGPIPE (which kills a
/// process that does not ignore it; Python ignores it at startup, Swift programs do not).
static inline int greenio_socket_bio_write(BIO *bio, const char *data, int length) {
    int fd = -1;
    BIO_get_fd(bio, &fd);
    errno = 0;
    int sent = (int)send(fd, data, (size_t)(length < 0 ? 0 : length), MSG_NOSIGNAL);
    BIO_clear_retry_flags(bio);
    if (sent <= 0 && BIO_sock_should_retry(sent)) BIO_set_retry_write(bio);
    return sent;
}

static inline int greenio_socket_bio_puts(BIO *bio, const char *text) {
    return greenio_socket_bio_write(bio, text, (int)strlen(text));
}

/// The method, made once (function-local statics: Swift does not emit a header's global ones).
static inline BIO_METHOD **greenio_socket_bio_method(void) {
    static BIO_METHOD *method = NULL;
    return &method;
}

static inline void greenio_socket_bio_make(void) {
    const BIO_METHOD *socket = BIO_s_socket();
    BIO_METHOD *method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                                      "GreenIO socket");
    if (method == NULL) return;
    BIO_meth_set_write(method, greenio_socket_bio_write);
    BIO_meth_set_puts(method, greenio_socket_bio_puts);
    BIO_meth_set_read(method, BIO_meth_get_read(socket));
    BIO_meth_set_ctrl(method, BIO_meth_get_ctrl(socket));
    BIO_meth_set_create(method, BIO_meth_get_create(socket));
    BIO_meth_set_destroy(method, BIO_meth_get_destroy(socket));
    *greenio_socket_bio_method() = method;
}

/// A GreenIO socket BIO on `fd` that does not close it; NULL if OpenSSL fails.
static inline BIO *greenio_BIO_new_socket(int fd) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, greenio_socket_bio_make);
    BIO_METHOD *method = *greenio_socket_bio_method();
    if (method == NULL) return NULL;
    BIO *bio = BIO_new(method);
    if (bio == NULL) return NULL;
    BIO_set_fd(bio, fd, BIO_NOCLOSE);
    return bio;
}

#endif
