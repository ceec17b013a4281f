// Helpers the I/O and signal drivers' tests share (test_io_driver.cpp,
// steady_state/test_steady_state.cpp, test_signals_driver.cpp).
#pragma once

#include "combinator_util.hpp"
#include "pipe.hpp"
#include "test_util.hpp"
#include <aio/aio.hpp>

#include <signal.h>
#include <sys/ioctl.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <span>
#include <string>
#include <system_error>

namespace aio_test::io {

/// How `e` ended: "ok" when nothing was thrown, "system_error <errno>: <what>" (the drivers'
/// errors carry an errno), else aio_test::describe's words ("CancelledError: <message>",
/// "TimeoutError", "RuntimeError: <what>", "error: <what>", ...).
inline std::string describe(const std::exception_ptr& e) {
    if (!e)
        return "ok";
    try {
        std::rethrow_exception(e);
    } catch (const std::system_error& s) {
        return "system_error " + std::to_string(s.code().value()) + ": " + s.what();
    } catch (...) {
        return aio_test::describe(std::current_exception());
    }
}

/// The std::system_error in `e` (code and what()), or what it was instead.
struct SystemError {
    bool is_system_error = false;
    int code = 0;
    bool system_category = false;
    std::string what;
};
inline SystemError system_error_of(const std::exception_ptr& e) {
    SystemError r;
    try {
        if (e)
            std::rethrow_exception(e);
        r.what = "no exception";
    } catch (const std::system_error& s) {
        r.is_system_error = true;
        r.code = s.code().value();
        r.system_category = s.code().category() == std::system_category();
        r.what = s.what();
    } catch (...) {
        r.what = "not a std::system_error: " + describe(std::current_exception());
    }
    return r;
}

/// Bytes waiting in a pipe (FIONREAD).
inline int bytes_in(int fd) {
    int n = -1;
    if (::ioctl(fd, FIONREAD, &n) != 0)
        return -1;
    return n;
}

/// Runs `task` on `loop` with a watchdog: a hang fails the test instead.
template <class T>
T run_bounded(aio::EventLoop& loop, aio::Task<T> task,
              std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    Watchdog watchdog(loop, limit);
    return loop.run_until_complete(std::move(task));
}

inline std::span<std::byte> bytes_of(std::array<char, 1000>& a) {
    return std::as_writable_bytes(std::span(a));
}

/// A string's bytes, for write_some.
inline std::span<const std::byte> bytes_of(const std::string& s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

// ---------------------------------------------------------------- signal dispositions

/// How many times baseline_handler has run, on any thread.
inline std::atomic<int> baseline_handler_calls{0};

/// The disposition BaselineHandler installs: it only counts, so a stray signal never kills the
/// test program, and a test can tell whether a signal reached it or aio's handler.
inline void baseline_handler(int) {
    baseline_handler_calls.fetch_add(1);
}

/// Saves a signal's disposition, installs baseline_handler as the "previous" one (the one aio
/// must restore when its last watcher leaves) and puts the saved one back at scope end.
class BaselineHandler {
public:
    explicit BaselineHandler(int signo) : signo_(signo) {
        struct sigaction ours {};
        ours.sa_handler = &baseline_handler;
        sigemptyset(&ours.sa_mask);
        ::sigaction(signo_, &ours, &saved_);
    }
    BaselineHandler(const BaselineHandler&) = delete;
    BaselineHandler& operator=(const BaselineHandler&) = delete;
    ~BaselineHandler() { ::sigaction(signo_, &saved_, nullptr); }

private:
    int signo_;
    struct sigaction saved_ {};
};

using HandlerFn = void (*)(int);

/// The handler installed for `signo` now.
inline HandlerFn current_handler(int signo) {
    struct sigaction now {};
    ::sigaction(signo, nullptr, &now);
    return now.sa_handler;
}

} // namespace aio_test::io
