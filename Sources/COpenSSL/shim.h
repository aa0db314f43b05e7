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
#include <openssl/core_names.h>
#include <string.h>

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

/// One session-ticket key: its name (sent in the ticket), AES-256-CBC key and HMAC-SHA256 key.
typedef struct {
    unsigned char name[16];
    unsigned char aes_key[32];
    unsigned char hmac_key[32];
} greenio_ticket_key;

/// Where a server context's ticket keys come from: `lookup(arg, name, encrypting, out)` fills `out`
/// with the key to encrypt with (encrypting = 1) or the key called `name` (0), and returns 1, 2
/// for a key old enough that the ticket should be renewed, or 0 when there is none.
typedef struct {
    int (*lookup)(void *arg, const unsigned char *name, int encrypting, greenio_ticket_key *out);
    void *arg;
} greenio_ticket_source;

/// The ticket-key callback: the source is the context's app data (set for every context that
/// issues tickets, the SNI ones included: OpenSSL asks the connection's current context).
static inline int greenio_ticket_key_callback(SSL *ssl, unsigned char key_name[16], unsigned char *iv,
                                              EVP_CIPHER_CTX *cipher, EVP_MAC_CTX *mac, int encrypting) {
    greenio_ticket_source *source = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    if (source == NULL) return encrypting ? -1 : 0;
    greenio_ticket_key key;
    int found = source->lookup(source->arg, key_name, encrypting, &key);
    if (found <= 0) return encrypting ? -1 : 0;
    int ok;
    if (encrypting) {
        memcpy(key_name, key.name, 16);
        ok = RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) == 1
            && EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), NULL, key.aes_key, iv) == 1;
    } else {
        ok = EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), NULL, key.aes_key, iv) == 1;
    }
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.hmac_key, sizeof key.hmac_key);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    ok = ok && EVP_MAC_CTX_set_params(mac, params) == 1;
    OPENSSL_cleanse(&key, sizeof key);
    if (!ok) return -1;
    return encrypting ? 1 : found;
}

/// Installs `source` (owned by the caller, alive as long as the context) and the callback.
static inline int greenio_SSL_CTX_set_ticket_source(SSL_CTX *ctx, greenio_ticket_source *source) {
    SSL_CTX_set_app_data(ctx, source);
    return (int)SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, greenio_ticket_key_callback);
}
static inline long greenio_SSL_OP_NO_TICKET(void) { return (long)SSL_OP_NO_TICKET; }
static inline long greenio_SSL_SESS_CACHE_OFF(void) { return SSL_SESS_CACHE_OFF; }
static inline int greenio_SSL_CTX_set_session_id_context(SSL_CTX *ctx, const unsigned char *id, unsigned int length) {
    return SSL_CTX_set_session_id_context(ctx, id, length);
}

static inline void greenio_BIO_set_retry_read(BIO *bio) { BIO_set_retry_read(bio); }
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
