// aio — version macros and platform detection. CMake reads the version from here.
#pragma once

#define AIO_VERSION_MAJOR 0
#define AIO_VERSION_MINOR 1
#define AIO_VERSION_PATCH 0
#define AIO_VERSION (AIO_VERSION_MAJOR * 10000 + AIO_VERSION_MINOR * 100 + AIO_VERSION_PATCH)

// The readiness backend: epoll on Linux, kqueue on macOS/BSD. Define one to force a backend
// (-DAIO_POLLER_KQUEUE=1 or -DAIO_POLLER_EPOLL=1); CI compiles the kqueue backend on Linux
// against tests/kqueue_shim.
#if defined(AIO_POLLER_KQUEUE) && defined(AIO_POLLER_EPOLL)
#error "define at most one of AIO_POLLER_KQUEUE and AIO_POLLER_EPOLL"
#elif defined(AIO_POLLER_KQUEUE) || defined(AIO_POLLER_EPOLL)
// Forced by the user: no auto-detection.
#elif defined(__linux__)
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

// How `co_await lazy_child()` starts the child. By symmetric transfer (await_suspend returns
// the child's handle; the child's end returns to the parent the same way), nesting depth and
// sequential awaits both cost no C stack — where the compiler turns each transfer into a tail
// call, which g++ and clang do with optimisation on. At -O0 (and under ASan/TSan, whose
// instrumentation blocks tail calls) they are plain calls, and a loop of awaits would grow the
// stack by two frames per await; there the child runs inside await_suspend instead: sequential
// awaits in constant stack, nesting limited by the stack (README: "Deep await chains").
// Define AIO_SYMMETRIC_START to 0 or 1 to choose.
#ifndef AIO_SYMMETRIC_START
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define AIO_DETAIL_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define AIO_DETAIL_SANITIZED 1
#endif
#if defined(__OPTIMIZE__) && !defined(AIO_DETAIL_SANITIZED)
#define AIO_SYMMETRIC_START 1
#else
#define AIO_SYMMETRIC_START 0
#endif
#endif
