// Tests for aio::wait_for and aio::timeout_at, after CPython's test_waitfor.py:
// on expiry the operation is cancelled and waited for before TimeoutError; a value returned
// while cancelling wins; an exception raised while cancelling replaces the TimeoutError; a
// timeout <= 0 never starts a lazy coroutine; cancelling the awaiter cancels the operation.
#include <aio/aio.hpp>

#include "test_util.hpp"
#include "catch.hpp"
#include "combinator_util.hpp"
#include "counted.hpp"

#include <chrono>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

using namespace std::chrono_literals;
using aio_test::Counted;
using aio_test::failer;
using aio_test::Log;
using aio_test::outcome_of;
using aio_test::sleeper;
using aio_test::slow_to_cancel;

TEST_CASE("wait_for: the value when the operation finishes in time", "[wait_for]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    int got = 0;
    long long took = -1;
    auto body = [&]() -> aio::Task<> {
        const auto t0 = loop.time();
        got = co_await aio::wait_for(sleeper(log, "op", 10ms, 42), 1h);
        took = aio_test::ms_since(t0);
        co_await aio::sleep(0s);
        REQUIRE(aio::all_tasks().size() == 1);
        REQUIRE(aio_test::timers_of(loop).empty()); // the deadline left the heap
    };
    loop.run_until_complete(body());
    REQUIRE(got == 42);
    REQUIRE(took == 10);
    REQUIRE(log == Log{"op done"});
}

TEST_CASE("wait_for: on expiry it cancels, waits for the cleanup, then raises TimeoutError", "[wait_for]") {
    aio_test::CountedBaseline baseline;
    {
        aio::EventLoop loop(aio_test::virtual_loop());
        Log log;
        std::string outcome;
        long long took = -1;
        aio::Task<int> op;
        auto body = [&]() -> aio::Task<> {
            const auto t0 = loop.time();
            op = aio::create_task(slow_to_cancel(log, "op", 1h, 5ms));
            outcome = co_await outcome_of(aio::wait_for(op, 10ms));
            took = aio_test::ms_since(t0);
            log.push_back("timeout seen");
            REQUIRE(op.done());
        };
        loop.run_until_complete(body());
        REQUIRE(outcome == "TimeoutError");
        REQUIRE(took == 15);
        REQUIRE(log == Log{"op cleanup start", "op cleanup end", "timeout seen"});
        REQUIRE(op.cancelled());
        op = {};
    }
    REQUIRE(baseline.leaked() == 0);
}

TEST_CASE("wait_for: TimeoutError derives from std::runtime_error and says what happened", "[wait_for][errors]") {
    static_assert(std::is_base_of_v<std::runtime_error, aio::TimeoutError>);
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::string what;
    auto body = [&]() -> aio::Task<> {
        try {
            co_await aio::wait_for(sleeper(log, "op", 1h), 1ms);
        } catch (const std::runtime_error& e) {
            what = e.what();
        }
    };
    loop.run_until_complete(body());
    REQUIRE_THAT(what, Catch::Contains("deadline"));
}

TEST_CASE("wait_for: an operation that swallows the cancellation and returns a value gives that value",
          "[wait_for]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    int got = 0;
    long long took = -1;
    auto stubborn = [&]() -> aio::Task<int> {
        try {
            co_await aio::sleep(1h);
        } catch (const aio::CancelledError&) {
            log.push_back("swallowed");
        }
        co_await aio::sleep(3ms);
        co_return 7;
    };
    auto body = [&]() -> aio::Task<> {
        const auto t0 = loop.time();
        got = co_await aio::wait_for(stubborn(), 10ms);
        took = aio_test::ms_since(t0);
    };
    loop.run_until_complete(body());
    REQUIRE(got == 7);
    REQUIRE(took == 13);
    REQUIRE(log == Log{"swallowed"});
}

TEST_CASE("wait_for: a timeout <= 0 on a lazy coroutine never starts it", "[wait_for]") {
    aio_test::CountedBaseline baseline;
    {
        aio::EventLoop loop(aio_test::virtual_loop());
        Log log;
        std::vector<std::string> outcomes;
        bool started = false;
        auto op = [&](Counted) -> aio::Task<int> {
            started = true;
            co_return 1;
        };
        auto body = [&]() -> aio::Task<> {
            outcomes.push_back(co_await outcome_of(aio::wait_for(op(Counted{}), 0s)));
            outcomes.push_back(co_await outcome_of(aio::wait_for(op(Counted{}), -5s)));
            outcomes.push_back(co_await outcome_of(aio::timeout_at(loop.time() - 1ms, op(Counted{}))));
            co_await aio::sleep(1ms);
            REQUIRE(aio::all_tasks().size() == 1);
        };
        loop.run_until_complete(body());
        REQUIRE(outcomes == std::vector<std::string>{"TimeoutError", "TimeoutError", "TimeoutError"});
        REQUIRE_FALSE(started);
    }
    REQUIRE(baseline.leaked() == 0);
}

TEST_CASE("wait_for: a timeout <= 0 on a started task cancels it, on a done task returns its result",
          "[wait_for]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::string outcome;
    int got = 0;
    aio::Task<int> running;
    auto body = [&]() -> aio::Task<> {
        running = aio::create_task(sleeper(log, "running", 1h));
        auto finished = aio::create_task(sleeper(log, "finished", 1ms, 9));
        co_await aio::sleep(2ms);
        outcome = co_await outcome_of(aio::wait_for(aio::Task<int>(running), 0s));
        got = co_await aio::wait_for(aio::Task<int>(finished), 0s);
    };
    loop.run_until_complete(body());
    REQUIRE(outcome == "TimeoutError");
    REQUIRE(running.cancelled());
    REQUIRE(got == 9);
    REQUIRE(log == Log{"finished done", "running cancelled: "});
}

TEST_CASE("wait_for: cancelling the awaiting task cancels the operation and waits for it", "[wait_for][cancel]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::string outcome;
    long long took = -1;
    aio::Task<int> op;
    auto waiter = [&]() -> aio::Task<> {
        try {
            co_await aio::wait_for(op, 1h);
        } catch (const aio::CancelledError& e) {
            log.push_back("waiter: CancelledError " + e.message());
            throw;
        }
    };
    auto body = [&]() -> aio::Task<> {
        const auto t0 = loop.time();
        op = aio::create_task(slow_to_cancel(log, "op", 2h, 5ms));
        auto w = aio::create_task(waiter());
        co_await aio::sleep(10ms);
        w.cancel("outer");
        outcome = co_await outcome_of(w);
        took = aio_test::ms_since(t0);
        REQUIRE(aio_test::timers_of(loop).empty());
    };
    loop.run_until_complete(body());
    REQUIRE(outcome == "CancelledError: outer");
    REQUIRE(took == 15);
    REQUIRE(log == Log{"op cleanup start", "op cleanup end", "waiter: CancelledError outer"});
    REQUIRE(op.cancelled());
}

TEST_CASE("wait_for: an exception raised while cancelling replaces the TimeoutError", "[wait_for]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    std::string outcome;
    auto bad_cleanup = []() -> aio::Task<int> {
        bool cancelled = false;
        try {
            co_await aio::sleep(1h);
        } catch (const aio::CancelledError&) {
            cancelled = true;
        }
        if (cancelled) {
            co_await aio::sleep(1ms);
            throw std::logic_error("cleanup failed");
        }
        co_return 0;
    };
    auto body = [&]() -> aio::Task<> { outcome = co_await outcome_of(aio::wait_for(bad_cleanup(), 10ms)); };
    loop.run_until_complete(body());
    REQUIRE(outcome == "error: cleanup failed");
}

TEST_CASE("wait_for: an exception of the operation before the deadline propagates", "[wait_for]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::string outcome;
    auto body = [&]() -> aio::Task<> { outcome = co_await outcome_of(aio::wait_for(failer(log, "f", 1ms, "early"), 1h)); };
    loop.run_until_complete(body());
    REQUIRE(outcome == "error: early");
}

TEST_CASE("wait_for on aio::sleep works both ways", "[wait_for]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    std::string short_one, long_one;
    long long t_short = -1, t_long = -1;
    auto body = [&]() -> aio::Task<> {
        auto t0 = loop.time();
        short_one = co_await outcome_of(aio::wait_for(aio::sleep(5ms), 10ms));
        t_short = aio_test::ms_since(t0);
        t0 = loop.time();
        long_one = co_await outcome_of(aio::wait_for(aio::sleep(1h), 10ms));
        t_long = aio_test::ms_since(t0);
        co_await aio::sleep(0s);
        REQUIRE(aio_test::timers_of(loop).empty()); // the one-hour sleep's timer is gone
        REQUIRE(aio::all_tasks().size() == 1);
    };
    loop.run_until_complete(body());
    REQUIRE(short_one == "value");
    REQUIRE(t_short == 5);
    REQUIRE(long_one == "TimeoutError");
    REQUIRE(t_long == 10);
}

TEST_CASE("timeout_at: an absolute deadline on the loop's clock", "[wait_for]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::string late;
    int got = 0;
    long long took = -1;
    auto body = [&]() -> aio::Task<> {
        const auto t0 = loop.time();
        got = co_await aio::timeout_at(t0 + 20ms, sleeper(log, "in time", 10ms, 3));
        late = co_await outcome_of(aio::timeout_at(t0 + 20ms, sleeper(log, "late", 1h)));
        took = aio_test::ms_since(t0);
    };
    loop.run_until_complete(body());
    REQUIRE(got == 3);
    REQUIRE(late == "TimeoutError");
    REQUIRE(took == 20); // the deadline is absolute: 10 ms left for the second operation
    REQUIRE(log == Log{"in time done", "late cancelled: "});
}

TEST_CASE("wait_for over a gather: on expiry every child of the gather is cancelled", "[wait_for][gather]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::string outcome;
    auto body = [&]() -> aio::Task<> {
        outcome = co_await outcome_of(
            aio::wait_for(aio::gather(sleeper(log, "a", 5ms), sleeper(log, "b", 1h), sleeper(log, "c", 2h)), 10ms));
        REQUIRE(aio::all_tasks().size() == 1);
    };
    loop.run_until_complete(body());
    REQUIRE(outcome == "TimeoutError");
    REQUIRE(log == Log{"a done", "b cancelled: ", "c cancelled: "});
}

TEST_CASE("wait_for: the operation runs as a task of its own", "[wait_for]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    std::string inner, outer;
    auto op = [&]() -> aio::Task<int> {
        inner = aio::current_task().get_name();
        co_return 1;
    };
    auto body = [&]() -> aio::Task<> {
        outer = aio::current_task().get_name();
        (void)co_await aio::wait_for(op(), 1s);
    };
    loop.run_until_complete(body());
    REQUIRE_FALSE(inner.empty());
    REQUIRE(inner != outer);
}

// Hidden ([.]): known library bug, reported. asyncio's wait_for(fut, 0) returns fut.result()
// when fut is already done, so a task already cancelled gives CancelledError, as it does with
// a positive timeout; aio gives TimeoutError (the deadline is handled before the set is seen
// to be complete).
TEST_CASE("wait_for: a timeout <= 0 on an already cancelled task gives CancelledError", "[.][wait_for][bug]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::string zero, positive;
    auto body = [&]() -> aio::Task<> {
        auto t = aio::create_task(sleeper(log, "t", 1h));
        co_await aio::sleep(1ms);
        t.cancel("gone");
        (void)co_await outcome_of(t);
        positive = co_await outcome_of(aio::wait_for(aio::Task<int>(t), 5ms));
        zero = co_await outcome_of(aio::wait_for(aio::Task<int>(t), 0s));
    };
    loop.run_until_complete(body());
    REQUIRE(positive == "CancelledError: gone");
    REQUIRE(zero == "CancelledError: gone");
}
