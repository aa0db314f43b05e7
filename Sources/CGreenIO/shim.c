#ifndef __linux__
#error "GreenIO supports Linux only: the hub waits with epoll and eventfd, the server toolkit with signalfd"
#endif

#define _GNU_SOURCE
#include "CGreenIO.h"
#include <sys/socket.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/eventfd.h>
#include <pthread.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <fcntl.h>

struct cgreenio_events { struct epoll_event items[1]; };

_Thread_local void *cgreenio_current_hub_storage __attribute__((tls_model("initial-exec"))) = NULL;
_Thread_local const uint64_t *cgreenio_virtual_clock_storage __attribute__((tls_model("initial-exec"))) = NULL;

// --- I/O buffer cache ----------------------------------------------------------------------------
// A connection gives its read buffer back whenever it waits, so that idle connections hold no
// memory; a busy one then takes a buffer and gives it back once per wake-up. glibc's per-thread
// cache (tcache) serves only blocks up to 1 KiB, so an 8 KiB buffer costs a trip through the
// general heap (about 350 instructions for the pair). Hub threads run one green thread at a time,
// so the buffer one connection gives back is the one the next connection takes: a few slots per
// thread make the pair a handful of instructions. The slots are freed when the thread ends.

enum { buffer_slots = 4, buffer_min = 4096, buffer_max = 65536, buffer_cache_limit = 131072 };

struct buffer_cache {
    void *buffers[buffer_slots];
    size_t sizes[buffer_slots];
    int count;
    size_t bytes;
};

static _Thread_local struct buffer_cache buffer_cache __attribute__((tls_model("initial-exec")));
static pthread_key_t buffer_cache_key;
static pthread_once_t buffer_cache_once = PTHREAD_ONCE_INIT;
static _Thread_local int buffer_cache_registered __attribute__((tls_model("initial-exec")));

static void buffer_cache_release(void *unused) {
    (void)unused;
    struct buffer_cache *cache = &buffer_cache;
    for (int i = 0; i < cache->count; i++) free(cache->buffers[i]);
    cache->count = 0;
    cache->bytes = 0;
    buffer_cache_registered = 0;  // a buffer cached later (by another destructor) registers again
}

static void buffer_cache_make_key(void) { (void)pthread_key_create(&buffer_cache_key, buffer_cache_release); }

void *cgreenio_buffer_alloc(size_t size) {
    struct buffer_cache *cache = &buffer_cache;
    for (int i = cache->count - 1; i >= 0; i--) {
        if (cache->sizes[i] == size) {
            void *buffer = cache->buffers[i];
            cache->count -= 1;
            cache->buffers[i] = cache->buffers[cache->count];
            cache->sizes[i] = cache->sizes[cache->count];
            cache->bytes -= size;
            return buffer;
        }
    }
    return malloc(size);
}

void cgreenio_buffer_free(void *buffer, size_t size) {
    if (buffer == NULL) return;
    struct buffer_cache *cache = &buffer_cache;
    if (size < buffer_min || size > buffer_max) { free(buffer); return; }
    if (!buffer_cache_registered) {
        // The thread's first cached buffer: register the destructor that frees the slots at exit.
        (void)pthread_once(&buffer_cache_once, buffer_cache_make_key);
        if (pthread_setspecific(buffer_cache_key, cache) != 0) { free(buffer); return; }
        buffer_cache_registered = 1;
    }
    if (cache->count == buffer_slots || cache->bytes + size > buffer_cache_limit) {
        // Full: the oldest slot makes room (the cache follows the sizes in use now).
        cache->bytes -= cache->sizes[0];
        free(cache->buffers[0]);
        for (int i = 1; i < cache->count; i++) {
            cache->buffers[i - 1] = cache->buffers[i];
            cache->sizes[i - 1] = cache->sizes[i];
        }
        cache->count -= 1;
        if (cache->bytes + size > buffer_cache_limit) { free(buffer); return; }
    }
    cache->buffers[cache->count] = buffer;
    cache->sizes[cache->count] = size;
    cache->count += 1;
    cache->bytes += size;
}

_Static_assert(CGREENIO_EPOLLIN == EPOLLIN, "EPOLLIN");
_Static_assert(CGREENIO_EPOLLOUT == EPOLLOUT, "EPOLLOUT");
_Static_assert(CGREENIO_EPOLLERR == EPOLLERR, "EPOLLERR");
_Static_assert(CGREENIO_EPOLLHUP == EPOLLHUP, "EPOLLHUP");
_Static_assert(CGREENIO_EPOLLRDHUP == EPOLLRDHUP, "EPOLLRDHUP");
_Static_assert(CGREENIO_EPOLLET == (uint32_t)EPOLLET, "EPOLLET");

cgreenio_events *cgreenio_events_alloc(int capacity) {
    return (cgreenio_events *)calloc((size_t)capacity, sizeof(struct epoll_event));
}

void cgreenio_events_free(cgreenio_events *events) { free(events); }

int cgreenio_epoll_wait(int epfd, cgreenio_events *events, int capacity, int timeout_ms) {
    return epoll_wait(epfd, events->items, capacity, timeout_ms);
}

uint32_t cgreenio_event_mask(const cgreenio_events *events, int index) { return events->items[index].events; }

uint64_t cgreenio_event_data(const cgreenio_events *events, int index) { return events->items[index].data.u64; }

static int epoll_control(int epfd, int op, int fd, uint32_t mask, uint64_t data) {
    struct epoll_event event;
    event.events = mask;
    event.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &event);
}

int cgreenio_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }
int cgreenio_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }
int cgreenio_epoll_add(int epfd, int fd, uint32_t mask, uint64_t data) { return epoll_control(epfd, EPOLL_CTL_ADD, fd, mask, data); }
int cgreenio_epoll_mod(int epfd, int fd, uint32_t mask, uint64_t data) { return epoll_control(epfd, EPOLL_CTL_MOD, fd, mask, data); }
int cgreenio_epoll_del(int epfd, int fd) { return epoll_control(epfd, EPOLL_CTL_DEL, fd, 0, 0); }

int cgreenio_accept(int fd, void *address, uint32_t *length) {
    return accept4(fd, (struct sockaddr *)address, (socklen_t *)length, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

void cgreenio_set_thread_name(const char *name) {
    char buffer[16];
    strncpy(buffer, name, 15);
    buffer[15] = 0;
    pthread_setname_np(pthread_self(), buffer);
}

uint64_t cgreenio_monotonic_ns(void) {
    const uint64_t *virtual_clock = cgreenio_virtual_clock_storage;
    if (__builtin_expect(virtual_clock != NULL, 0)) return *virtual_clock;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int cgreenio_block_signals_fd(const int *signals, int count) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < count; i++) sigaddset(&set, signals[i]);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CGREENIO_TSAN 1
#endif
#endif

#ifdef CGREENIO_TSAN
void __tsan_release(void *address);
void __tsan_acquire(void *address);
void cgreenio_tsan_release(const void *address) { __tsan_release((void *)address); }
void cgreenio_tsan_acquire(const void *address) { __tsan_acquire((void *)address); }
#else
void cgreenio_tsan_release(const void *address) { (void)address; }
void cgreenio_tsan_acquire(const void *address) { (void)address; }
#endif
