// aio — version macros and platform detection. CMake reads the version from here.
#pragma once

#define AIO_VERSION_MAJOR 0
#define AIO_VERSION_MINOR 1
#define AIO_VERSION_PATCH 0
#define AIO_VERSION (AIO_VERSION_MAJOR * 10000 + AIO_VERSION_MINOR * 100 + AIO_VERSION_PATCH)

#if defined(__linux__)
#define AIO_POLLER_EPOLL 1
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__)
#define AIO_POLLER_KQUEUE 1
#else
#error "aio supports Linux (epoll) and macOS/BSD (kqueue) only"
#endif

#if defined(__clang__) || defined(__GNUC__)
#define AIO_LIKELY(x) __builtin_expect(!!(x), 1)
#define AIO_UNLIKELY(x) __builtin_expect(!!(x), 0)
// For the few hot-path functions whose inlining must not depend on how much other code the
// user's translation unit holds (g++ stops inlining once a unit has grown enough).
#define AIO_ALWAYS_INLINE inline __attribute__((always_inline))
#define AIO_NOINLINE __attribute__((noinline))
#else
#define AIO_LIKELY(x) (x)
#define AIO_UNLIKELY(x) (x)
#define AIO_ALWAYS_INLINE inline
#define AIO_NOINLINE
#endif
