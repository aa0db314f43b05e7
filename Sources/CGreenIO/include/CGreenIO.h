#ifndef CGREENIO_H
#define CGREENIO_H

// The C shim under GreenIO: the few things Swift cannot express cleanly. Linux only (epoll,
// eventfd, signalfd, accept4): shim.c stops the build elsewhere with a clear error.
// - `struct epoll_event` is packed on x86-64, so Swift must not touch its fields directly.
// - A C `_Thread_local` pointer is the cheapest way to find the hub running on this thread.

// Only freestanding headers here: a system header included by this module would make the module
// own that header's declarations, hiding them from code that imports Glibc but not CGreenIO.
#include <stdint.h>
#include <stddef.h>

/// An opaque array of `struct epoll_event` allocated by `cgreenio_events_alloc`.
typedef struct cgreenio_events cgreenio_events;

cgreenio_events *cgreenio_events_alloc(int capacity);
void cgreenio_events_free(cgreenio_events *events);
/// Waits with `epoll_wait`; returns its result (count, or -1 with errno set).
int cgreenio_epoll_wait(int epfd, cgreenio_events *events, int capacity, int timeout_ms);
uint32_t cgreenio_event_mask(const cgreenio_events *events, int index);
uint64_t cgreenio_event_data(const cgreenio_events *events, int index);
/// `epoll_create1(EPOLL_CLOEXEC)`.
int cgreenio_epoll_create(void);
/// `eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)`.
int cgreenio_eventfd(void);
/// `epoll_ctl(EPOLL_CTL_ADD / MOD / DEL)` with the event built here.
int cgreenio_epoll_add(int epfd, int fd, uint32_t mask, uint64_t data);
int cgreenio_epoll_mod(int epfd, int fd, uint32_t mask, uint64_t data);
int cgreenio_epoll_del(int epfd, int fd);
/// `accept4(fd, address, length, SOCK_NONBLOCK | SOCK_CLOEXEC)`; `address` is a `struct sockaddr *`
/// and `length` a `socklen_t *`.
int cgreenio_accept(int fd, void *address, uint32_t *length);
/// Names the calling thread (`pthread_setname_np`, truncated to 15 bytes).
void cgreenio_set_thread_name(const char *name);

/// epoll's event bits, with the values of <sys/epoll.h> (which this header must not include;
/// shim.c checks that they match). Macros, so that Swift sees constants it can fold into the
/// poller's masks instead of loading them from memory.
#define CGREENIO_EPOLLIN 0x001u
#define CGREENIO_EPOLLOUT 0x004u
#define CGREENIO_EPOLLERR 0x008u
#define CGREENIO_EPOLLHUP 0x010u
#define CGREENIO_EPOLLRDHUP 0x2000u
#define CGREENIO_EPOLLET (1u << 31)

/// The hub that runs on the calling thread, or NULL.
extern _Thread_local void *cgreenio_current_hub_storage __attribute__((tls_model("initial-exec")));
static inline void *cgreenio_current_hub(void) { return cgreenio_current_hub_storage; }
static inline void cgreenio_set_current_hub(void *hub) { cgreenio_current_hub_storage = hub; }

/// The virtual clock of the hub whose loop runs on the calling thread (nanoseconds), or NULL when
/// that hub reads the system's clock (GreenIOTesting's virtual time).
extern _Thread_local const uint64_t *cgreenio_virtual_clock_storage __attribute__((tls_model("initial-exec")));
static inline const uint64_t *cgreenio_virtual_clock(void) { return cgreenio_virtual_clock_storage; }
static inline void cgreenio_set_virtual_clock(const uint64_t *clock) { cgreenio_virtual_clock_storage = clock; }

/// The hub's time in nanoseconds: CLOCK_MONOTONIC, or the virtual clock of the hub running on the
/// calling thread.
uint64_t cgreenio_monotonic_ns(void);

/// Allocates `size` bytes for an I/O buffer (`malloc`'s alignment), from the calling thread's
/// cache of recently freed buffers of exactly that size when it has one; NULL when out of memory.
void *cgreenio_buffer_alloc(size_t size);
/// Frees a buffer from `cgreenio_buffer_alloc` (or `malloc`) of `size` bytes; NULL is ignored.
/// Buffers of 4 KiB to 64 KiB are kept in the calling thread's cache (at most 4, 128 KiB in all)
/// for the next `cgreenio_buffer_alloc` of the same size, and freed when the thread ends.
void cgreenio_buffer_free(void *buffer, size_t size);

/// `errno` of the calling thread (a macro in C).
static inline int cgreenio_errno(void) { extern int *__errno_location(void); return *__errno_location(); }

/// Signal-set helpers (sigset_t macros and signalfd).
int cgreenio_block_signals_fd(const int *signals, int count);

/// ThreadSanitizer happens-before annotations (`__tsan_release` / `__tsan_acquire` on `address`),
/// for synchronisation TSan cannot see: `Synchronization.Mutex` locks with futex system calls in
/// uninstrumented code. Empty functions unless this file is compiled with -fsanitize=thread.
void cgreenio_tsan_release(const void *address);
void cgreenio_tsan_acquire(const void *address);

#endif
