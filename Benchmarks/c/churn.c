/* Connection churn client for Benchmarks/proxy.sh: each of PROCS processes, for SECS seconds,
 * opens a TCP connection, optionally sends a PROXY protocol header (v1 text or v2 binary, in its
 * own write, as a balancer sends it before relaying the client's bytes), sends one 64-byte line,
 * reads its echo, checks it, and closes. Prints "connections: N in S s = R/s, errors: E".
 * With "v1+" or "v2+" the header and the line go out in one write (one segment).
 *
 *   churn HOST PORT SECS PROCS none|v1|v2|v1+|v2+
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* One connection: 0 on a correct echo, -1 otherwise. */
static int one(const struct sockaddr_in *addr, const char *header, size_t header_len, const char *line, size_t len,
               int coalesce) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    int one = 1, ok = -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) == 0 &&
        (coalesce || header_len == 0 || write_all(fd, header, header_len) == 0) &&
        write_all(fd, coalesce ? header : line, coalesce ? header_len + len : len) == 0) {
        char buffer[128];
        size_t have = 0;
        while (have < len) {
            ssize_t r = read(fd, buffer + have, sizeof buffer - have);
            if (r <= 0) break;
            have += (size_t)r;
        }
        ok = (have == len && memcmp(buffer, line, len) == 0) ? 0 : -1;
    }
    close(fd);
    return ok;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: churn HOST PORT SECS PROCS none|v1|v2|v1+|v2+\n");
        return 2;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) return 2;
    double secs = atof(argv[3]);
    int procs = atoi(argv[4]);
    char header[192];
    size_t header_len = 0;
    int coalesce = argv[5][0] != 0 && argv[5][strlen(argv[5]) - 1] == '+';
    if (strncmp(argv[5], "v1", 2) == 0) {
        header_len = (size_t)snprintf(header, sizeof header, "PROXY TCP4 203.0.113.7 %s 40000 %s\r\n", argv[1], argv[2]);
    } else if (strncmp(argv[5], "v2", 2) == 0) {
        static const unsigned char v2[28] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
                                             0x21, 0x11, 0x00, 0x0C, 203, 0, 113, 7, 127, 0, 0, 1, 0x9C, 0x40, 0, 0};
        memcpy(header, v2, sizeof v2);
        memcpy(header + 26, &addr.sin_port, 2);
        header_len = sizeof v2;
    } else if (strcmp(argv[5], "none") != 0) {
        return 2;
    }
    char line[64];
    memset(line, 'x', sizeof line);
    line[sizeof line - 1] = '\n';
    if (coalesce) memcpy(header + header_len, line, sizeof line);
    long *counts = mmap(NULL, sizeof(long) * 2 * (size_t)procs, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (counts == MAP_FAILED) return 1;
    double start = now();
    for (int p = 0; p < procs; p++) {
        if (fork() == 0) {
            long done = 0, errors = 0;
            while (now() - start < secs) {
                if (one(&addr, header, header_len, line, sizeof line, coalesce) == 0) done++; else errors++;
            }
            counts[2 * p] = done;
            counts[2 * p + 1] = errors;
            _exit(0);
        }
    }
    while (wait(NULL) > 0) {}
    double elapsed = now() - start;
    long done = 0, errors = 0;
    for (int p = 0; p < procs; p++) {
        done += counts[2 * p];
        errors += counts[2 * p + 1];
    }
    printf("connections: %ld in %.2f s = %.0f/s, errors: %ld\n", done, elapsed, done / elapsed, errors);
    return errors > 0 ? 1 : 0;
}
