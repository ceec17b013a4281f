// Helpers shared by the combinator tests (test_gather.cpp, test_wait_for.cpp, test_wait.cpp,
// test_task_group.cpp, test_combinators_cancel.cpp, test_stress.cpp).
//
// The style is that of test_cancel.cpp: tasks record what happens into a Log, the test asserts
// the log. Catch macros never contain a co_await, and no co_await appears in a catch handler
// (C++ forbids it): handlers set a flag or store the exception, the code after them acts.
#pragma once

#include <aio/aio.hpp>

#include "counted.hpp"
#include "test_util.hpp"

#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace aio_test {

/// "value", "CancelledError: msg", "TimeoutError", "ValueError: msg", "RuntimeError: msg",
/// "ExceptionGroup(n)", "error: what" for any other std::exception, "unknown".
inline std::string describe(const std::exception_ptr& e) {
    if (!e) return "value";
    try {
        std::rethrow_exception(e);
    } catch (const aio::CancelledError& c) {
        return "CancelledError: " + c.message();
    } catch (const aio::TimeoutError&) {
        return "TimeoutError";
    } catch (const aio::ValueError& v) {
        return std::string("ValueError: ") + v.what();
    } catch (const aio::RuntimeError& r) {
        return std::string("RuntimeError: ") + r.what();
    } catch (const aio::ExceptionGroup& g) {
        return "ExceptionGroup(" + std::to_string(g.exceptions().size()) + ")";
    } catch (const std::exception& x) {
        return std::string("error: ") + x.what();
    } catch (...) {
        return "unknown";
    }
}

/// Awaits `t` and says how it ended (see describe()); the value itself is dropped.
template <class Awaitable>
aio::Task<std::string> outcome_of(Awaitable t) {
    co_return describe(co_await aio_test::error_of(std::move(t)));
}

/// Sleeps `d` and returns `value`, logging "<name> done", or "<name> cancelled: <msg>" when
/// cancelled (the cancellation propagates). Holds a Counted so frame lifetimes are checked.
inline aio::Task<int> sleeper(Log& log, std::string name, aio::Clock::duration d, int value = 0, Counted = {}) {
    try {
        co_await aio::sleep(d);
    } catch (const aio::CancelledError& e) {
        log.push_back(name + " cancelled: " + e.message());
        throw;
    }
    log.push_back(name + " done");
    co_return value;
}

/// Sleeps `d`, then throws std::runtime_error(what), logging "<name> raises".
inline aio::Task<int> failer(Log& log, std::string name, aio::Clock::duration d, std::string what,
                             Counted = {}) {
    try {
        co_await aio::sleep(d);
    } catch (const aio::CancelledError& e) {
        log.push_back(name + " cancelled: " + e.message());
        throw;
    }
    log.push_back(name + " raises");
    throw std::runtime_error(what);
}

/// Sleeps `d`; when cancelled, logs "<name> cleanup start", spends `cleanup` more (uncancellable
/// by construction: nobody cancels it twice in these tests), logs "<name> cleanup end" and then
/// lets the cancellation propagate.
inline aio::Task<int> slow_to_cancel(Log& log, std::string name, aio::Clock::duration d, aio::Clock::duration cleanup,
                                     Counted = {}) {
    std::exception_ptr cancelled;
    try {
        co_await aio::sleep(d);
    } catch (const aio::CancelledError&) {
        cancelled = std::current_exception();
    }
    if (cancelled) {
        log.push_back(name + " cleanup start");
        co_await aio::sleep(cleanup);
        log.push_back(name + " cleanup end");
        std::rethrow_exception(cancelled);
    }
    log.push_back(name + " done");
    co_return 1;
}

} // namespace aio_test
