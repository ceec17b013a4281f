// Helpers every test file may share: the event log tasks record into, and test-clock options.
#pragma once

#include <aio/aio.hpp>

#include <chrono>
#include <exception>
#include <string>
#include <utility>
#include <vector>

namespace aio_test {

using Log = std::vector<std::string>;

inline aio::LoopOptions virtual_loop() {
    aio::LoopOptions o;
    o.virtual_time = true;
    return o;
}

inline aio::RunOptions virtual_run() {
    aio::RunOptions o;
    o.virtual_time = true;
    return o;
}

/// Milliseconds of loop time since `t0`.
inline long long ms_since(aio::Clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(aio::get_running_loop().time() - t0).count();
}

/// Awaits `t` and gives the exception it ended with (nullptr when it returned); the value
/// itself is dropped. (A catch handler cannot co_await, so tests inspect this afterwards.)
template <class Awaitable>
aio::Task<std::exception_ptr> error_of(Awaitable t) {
    try {
        co_await std::move(t);
    } catch (...) {
        co_return std::current_exception();
    }
    co_return nullptr;
}

/// The message of the aio::RuntimeError `fn` throws, or what happened instead.
template <class F>
std::string runtime_error_of(F&& fn) {
    try {
        fn();
    } catch (const aio::RuntimeError& e) {
        return e.what();
    } catch (const std::exception& e) {
        return std::string("not an aio::RuntimeError: ") + e.what();
    }
    return "no exception";
}

/// The loop's timer heap, for tests that check a wait left nothing behind.
inline aio::detail::TimerHeap& timers_of(aio::EventLoop& loop) { return aio::detail::LoopAccess::core(loop).timers(); }

} // namespace aio_test
