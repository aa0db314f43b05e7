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

const uint32_t cgreenio_EPOLLIN = EPOLLIN;
const uint32_t cgreenio_EPOLLOUT = EPOLLOUT;
const uint32_t cgreenio_EPOLLERR = EPOLLERR;
const uint32_t cgreenio_EPOLLHUP = EPOLLHUP;
const uint32_t cgreenio_EPOLLRDHUP = EPOLLRDHUP;
const uint32_t cgreenio_EPOLLET = EPOLLET;

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
