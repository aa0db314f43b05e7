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
static inline long greenio_SSL_OP_NO_COMPRESSION(void) { return (long)SSL_OP_NO_COMPRESSION; }

static inline int greenio_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) {
    return (int)SSL_CTX_set1_groups_list(ctx, list);
}

/// The server-name (SNI) callback type: returns SSL_TLSEXT_ERR_OK to go on with the handshake.
typedef int (*greenio_servername_callback)(SSL *ssl, int *alert, void *arg);

static inline void greenio_SSL_CTX_set_servername_callback(SSL_CTX *ctx, greenio_servername_callback callback, void *arg) {
    SSL_CTX_set_tlsext_servername_callback(ctx, callback);
    SSL_CTX_set_tlsext_servername_arg(ctx, arg);
}
static inline const char *greenio_SSL_get_servername(const SSL *ssl) {
    return SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
}
static inline int greenio_SSL_TLSEXT_ERR_OK(void) { return SSL_TLSEXT_ERR_OK; }
static inline unsigned long greenio_XN_FLAG_RFC2253(void) { return XN_FLAG_RFC2253; }

static inline void greenio_BIO_set_retry_read(BIO *bio) { BIO_set_retry_read(bio); }
static inline void greenio_BIO_set_retry_write(BIO *bio) { BIO_set_retry_write(bio); }
static inline void greenio_BIO_clear_retry_flags(BIO *bio) { BIO_clear_retry_flags(bio); }

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

#endif
