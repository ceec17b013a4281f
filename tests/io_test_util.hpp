// Helpers the I/O driver's tests share (test_io_driver.cpp, steady_state/test_steady_state.cpp).
#pragma once

#include <aio/aio.hpp>

#include "pipe.hpp"
#include "test_util.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <exception>
#include <span>
#include <string>
#include <system_error>

#include <sys/ioctl.h>

namespace aio_test::io {

/// "ok", "CancelledError: <message>", "TimeoutError", "RuntimeError: <what>",
/// "system_error <errno>: <what>", "error: <what>".
inline std::string describe(const std::exception_ptr& e) {
    if (!e) return "ok";
    try {
        std::rethrow_exception(e);
    } catch (const aio::CancelledError& c) {
        return "CancelledError: " + c.message();
    } catch (const aio::TimeoutError&) {
        return "TimeoutError";
    } catch (const aio::RuntimeError& r) {
        return std::string("RuntimeError: ") + r.what();
    } catch (const std::system_error& s) {
        return "system_error " + std::to_string(s.code().value()) + ": " + s.what();
    } catch (const std::exception& x) {
        return std::string("error: ") + x.what();
    } catch (...) {
        return "unknown";
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
        if (e) std::rethrow_exception(e);
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
    if (::ioctl(fd, FIONREAD, &n) != 0) return -1;
    return n;
}

/// Runs `task` on `loop` with a watchdog: a hang fails the test instead.
template <class T>
T run_bounded(aio::EventLoop& loop, aio::Task<T> task, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    Watchdog watchdog(loop, limit);
    return loop.run_until_complete(std::move(task));
}

inline std::span<std::byte> bytes_of(std::array<char, 1000>& a) { return std::as_writable_bytes(std::span(a)); }

/// A string's bytes, for write_some.
inline std::span<const std::byte> bytes_of(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

} // namespace aio_test::io
