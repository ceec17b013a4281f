// Helpers shared by the tests of the synchronisation primitives and queues (test_lock.cpp,
// test_event.cpp, test_condition.cpp, test_semaphore.cpp, test_barrier.cpp, test_queue.cpp).
//
// Tasks record what happens into a Log and the tests assert the log. Catch macros never
// contain a co_await, and no co_await appears in a catch handler (C++ forbids it).
#pragma once

#include <aio/aio.hpp>

#include "test_util.hpp"

#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace sync_test {

using aio_test::Log;
using aio_test::ms_since;
using aio_test::virtual_loop;

inline aio::RunOptions virtual_time() { return aio_test::virtual_run(); }

/// "ok", "CancelledError", "QueueShutDown", "BrokenBarrierError", "RuntimeError: <what>",
/// "ValueError: <what>", "error: <what>".
inline std::string describe(const std::exception_ptr& e) {
    if (!e) return "ok";
    try {
        std::rethrow_exception(e);
    } catch (const aio::CancelledError&) {
        return "CancelledError";
    } catch (const aio::QueueShutDown&) {
        return "QueueShutDown";
    } catch (const aio::QueueEmpty&) {
        return "QueueEmpty";
    } catch (const aio::QueueFull&) {
        return "QueueFull";
    } catch (const aio::BrokenBarrierError&) {
        return "BrokenBarrierError";
    } catch (const aio::RuntimeError& r) {
        return std::string("RuntimeError: ") + r.what();
    } catch (const aio::ValueError& v) {
        return std::string("ValueError: ") + v.what();
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

/// Cancels `target` every (virtual) day: a test that deadlocks fails instead of hanging. It
/// keeps cancelling because a task awaiting another passes the cancellation on to it.
inline aio::Task<> watchdog(aio::TaskRef target, bool& fired) {
    for (;;) {
        co_await aio::sleep(std::chrono::hours(24));
        fired = true;
        target.cancel("watchdog");
    }
}

inline aio::Task<> guarded(aio::Task<> body) {
    bool fired = false;
    auto task = aio::create_task(std::move(body));
    aio::create_task(watchdog(task, fired)); // aio::run cancels it once the test is done
    std::exception_ptr error;
    try {
        co_await task;
    } catch (...) {
        error = std::current_exception();
    }
    if (fired)
        throw std::runtime_error("the test hung: its tasks waited for something that never came "
                                 "(the watchdog cancelled them after a day of loop time)");
    if (error) std::rethrow_exception(error);
}

/// aio::run on the test clock, with the watchdog.
inline void run(aio::Task<> body) { aio::run(guarded(std::move(body)), virtual_time()); }

/// Lets every task that is ready run `turns` times over (sleep(0) goes behind them).
inline aio::Task<> run_turns(int turns = 1) {
    for (int i = 0; i < turns; ++i) co_await aio::sleep(std::chrono::seconds(0));
}

} // namespace sync_test
