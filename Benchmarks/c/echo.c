/* echo.c: the C reference of the side-by-side benchmark (issue 6) — a tight one-thread epoll line-echo
 * server, plain or TLS 1.3 (OpenSSL, TLS_AES_128_GCM_SHA256 only).
 *
 *   cc -O2 -o echo echo.c -lssl -lcrypto
 *   ./echo [-p PORT] [--tls CERT.pem KEY.pem]
 *
 * Listens on 127.0.0.1 (TCP_NODELAY on each connection). Level-triggered, non-blocking: on each readable
 * event it reads what is there (plain: up to 64 KiB; TLS: until SSL_read wants more), then writes every
 * complete line received so far with one write and keeps the incomplete tail. Prints
 * "listening on 127.0.0.1:PORT" once ready; SIGINT/SIGTERM stop it. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFSZ 65536
#define MAXLINE (1 << 20)

typedef struct conn {
    int fd;
    SSL *ssl;
    char *in;          /* received bytes not yet echoed (an incomplete line at most after a batch) */
    size_t inlen, incap;
    char *out;         /* echo bytes the socket did not take yet */
    size_t outlen, outoff;
    int want_write;    /* EPOLLOUT armed */
} conn;

static SSL_CTX *ctx;
static int ep;

static void die(const char *what) { perror(what); exit(1); }

static void conn_close(conn *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->ssl) SSL_free(c->ssl);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

static void arm(conn *c, int want_write) {
    if (c->want_write == want_write) return;
    struct epoll_event ev = {.events = EPOLLIN | (want_write ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_write = want_write;
}

/* Writes out[outoff..outlen). Returns 0 when all written, 1 when blocked, -1 on error. */
static int flush_out(conn *c) {
    while (c->outoff < c->outlen) {
        size_t n = c->outlen - c->outoff;
        if (c->ssl) {
            int r = SSL_write(c->ssl, c->out + c->outoff, (int)n);
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) return 1;
                return -1;
            }
            c->outoff += (size_t)r;
        } else {
            ssize_t r = send(c->fd, c->out + c->outoff, n, MSG_NOSIGNAL);
            if (r < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) return 1;
                if (errno == EINTR) continue;
                return -1;
            }
            c->outoff += (size_t)r;
        }
    }
    c->outoff = c->outlen = 0;
    return 0;
}

/* Moves the complete lines of `in` to `out` (appending) and writes them with one write. */
static int echo_lines(conn *c) {
    char *last = memrchr(c->in, '\n', c->inlen);
    if (!last) return c->inlen > MAXLINE ? -1 : 0;
    size_t n = (size_t)(last - c->in) + 1;
    if (c->outlen == 0 && c->ssl == NULL) {
        /* Fast path: write straight from the input buffer. */
        size_t off = 0;
        while (off < n) {
            ssize_t r = send(c->fd, c->in + off, n - off, MSG_NOSIGNAL);
            if (r < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                return -1;
            }
            off += (size_t)r;
        }
        if (off < n) {
            c->out = realloc(c->out, n - off);
            memcpy(c->out, c->in + off, n - off);
            c->outlen = n - off;
            c->outoff = 0;
        }
    } else {
        char *grown = realloc(c->out, c->outlen + n);
        if (!grown) return -1;
        c->out = grown;
        memcpy(c->out + c->outlen, c->in, n);
        c->outlen += n;
    }
    memmove(c->in, c->in + n, c->inlen - n);
    c->inlen -= n;
    int r = c->outlen ? flush_out(c) : 0;
    if (r < 0) return -1;
    arm(c, r == 1);
    return 0;
}

/* Reads what is available now. Returns -1 to close. */
static int on_readable(conn *c) {
    for (int rounds = 0; rounds < 64; rounds++) {
        if (c->incap - c->inlen < BUFSZ / 4) {
            size_t cap = c->incap ? c->incap * 2 : BUFSZ;
            char *grown = realloc(c->in, cap);
            if (!grown) return -1;
            c->in = grown;
            c->incap = cap;
        }
        size_t room = c->incap - c->inlen;
        if (c->ssl) {
            int r = SSL_read(c->ssl, c->in + c->inlen, (int)room);
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) break;
                return -1;
            }
            c->inlen += (size_t)r;
        } else {
            ssize_t r = recv(c->fd, c->in + c->inlen, room, 0);
            if (r == 0) return -1;
            if (r < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                return -1;
            }
            c->inlen += (size_t)r;
            if ((size_t)r < room) break; /* drained: level-triggered epoll tells us when more arrives */
        }
    }
    return echo_lines(c);
}

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv) {
    int port = 7880;
    const char *cert = NULL, *key = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-p") && i + 1 < argc) port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tls") && i + 2 < argc) { cert = argv[++i]; key = argv[++i]; }
        else { fprintf(stderr, "usage: %s [-p PORT] [--tls CERT.pem KEY.pem]\n", argv[0]); return 2; }
    }
    if (cert) {
        ctx = SSL_CTX_new(TLS_server_method());
        if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
            !SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256") ||
            SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
            ERR_print_errors_fp(stderr);
            return 1;
        }
        SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) die("socket");
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
    if (listen(lfd, 1024) < 0) die("listen");
    socklen_t alen = sizeof addr;
    getsockname(lfd, (struct sockaddr *)&addr, &alen);

    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
    printf("listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
    fflush(stdout);

    struct epoll_event events[256];
    while (!stop) {
        int n = epoll_wait(ep, events, 256, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            conn *c = events[i].data.ptr;
            if (!c) {
                for (int k = 0; k < 256; k++) { /* bounded accept burst */
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) break;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conn *nc = calloc(1, sizeof *nc);
                    if (!nc) { close(fd); continue; }
                    nc->fd = fd;
                    if (ctx) {
                        nc->ssl = SSL_new(ctx);
                        SSL_set_fd(nc->ssl, fd);
                        SSL_set_accept_state(nc->ssl);
                    }
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }
            if (events[i].events & (EPOLLERR | EPOLLHUP) && !(events[i].events & EPOLLIN)) {
                conn_close(c);
                continue;
            }
            int bad = 0;
            if (events[i].events & EPOLLOUT) {
                int r = flush_out(c);
                if (r < 0) bad = 1;
                else arm(c, r == 1);
            }
            if (!bad && (events[i].events & EPOLLIN)) bad = on_readable(c) < 0;
            if (bad) conn_close(c);
        }
    }
    close(lfd);
    if (ctx) SSL_CTX_free(ctx);
    return 0;
}
