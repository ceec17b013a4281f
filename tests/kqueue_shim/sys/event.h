/*
 * tests/kqueue_shim/sys/event.h — a declaration-only stand-in for the BSD <sys/event.h>, so that
 * aio's kqueue backend (include/aio/detail/kqueue_poller.hpp) and the code that depends on the
 * backend choice can be COMPILED on Linux, where kqueue does not exist:
 *
 *   c++ -std=c++20 -fsyntax-only -DAIO_POLLER_KQUEUE=1 -Itests/kqueue_shim -Iinclude \
 *       tests/kqueue_compile_check.cpp
 *
 * (tests/CMakeLists.txt runs this as the CTest test "kqueue backend compiles (shim)").
 * Nothing declared here is defined anywhere: the shim is never linked or run. It is put on the
 * include path only by that check, never on macOS/BSD, whose real header it would shadow.
 *
 * Written from the documented kqueue(2) interface; the types follow FreeBSD and macOS:
 *   ident   uintptr_t        filter  short (int16_t)    flags  unsigned short (uint16_t)
 *   fflags  unsigned int     data    int64_t (FreeBSD >= 12; intptr_t on macOS and older
 *                                    FreeBSD: the same width on the LP64 targets CI uses)
 *   udata   void*
 * FreeBSD >= 12 also has a trailing `uint64_t ext[4]`, kept here so that code which
 * brace-initialises a kevent positionally is compiled against the larger of the layouts.
 * NetBSD differs (filter and flags are uint32_t; udata was intptr_t before NetBSD 10); this
 * shim does not model it.
 */
#ifndef AIO_KQUEUE_SHIM_SYS_EVENT_H
#define AIO_KQUEUE_SHIM_SYS_EVENT_H

#include <stdint.h>

/* Filters (negative, as on the BSDs). */
#define EVFILT_READ (-1)
#define EVFILT_WRITE (-2)
#define EVFILT_PROC (-5)
#define EVFILT_SIGNAL (-6)

/* Actions. */
#define EV_ADD 0x0001
#define EV_DELETE 0x0002
#define EV_ENABLE 0x0004
#define EV_DISABLE 0x0008
/* Flags. */
#define EV_ONESHOT 0x0010
#define EV_CLEAR 0x0020
/* Returned values. */
#define EV_ERROR 0x4000
#define EV_EOF 0x8000

struct kevent {
    uintptr_t ident;      /* usually a file descriptor */
    short filter;         /* EVFILT_* */
    unsigned short flags; /* EV_* */
    unsigned int fflags;  /* filter-specific flags */
    int64_t data;         /* filter-specific data */
    void* udata;          /* handed back unchanged */
    uint64_t ext[4];      /* FreeBSD >= 12 extensions */
};

/* Fills a struct kevent through a pointer, evaluating each argument once, like the real macro;
   ext is zeroed. */
#define EV_SET(kevp, a, b, c, d, e, f)                                                             \
    do {                                                                                           \
        struct kevent* aio_shim_kevp_ = (kevp);                                                    \
        aio_shim_kevp_->ident = (a);                                                               \
        aio_shim_kevp_->filter = (b);                                                              \
        aio_shim_kevp_->flags = (c);                                                               \
        aio_shim_kevp_->fflags = (d);                                                              \
        aio_shim_kevp_->data = (e);                                                                \
        aio_shim_kevp_->udata = (f);                                                               \
        aio_shim_kevp_->ext[0] = 0;                                                                \
        aio_shim_kevp_->ext[1] = 0;                                                                \
        aio_shim_kevp_->ext[2] = 0;                                                                \
        aio_shim_kevp_->ext[3] = 0;                                                                \
    } while (0)

struct timespec;

#ifdef __cplusplus
extern "C" {
#endif

int kqueue(void);
int kevent(int kq, const struct kevent* changelist, int nchanges, struct kevent* eventlist, int nevents,
           const struct timespec* timeout);

#ifdef __cplusplus
}
#endif

#endif /* AIO_KQUEUE_SHIM_SYS_EVENT_H */
