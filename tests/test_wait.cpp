// Tests for aio::wait, aio::as_completed and aio::shield, after CPython's
// test_tasks.py (test_wait_*, test_as_completed_*, test_shield_*).
#include <aio/aio.hpp>

#include "test_util.hpp"
#include "catch.hpp"
#include "combinator_util.hpp"
#include "counted.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using aio_test::Counted;
using aio_test::failer;
using aio_test::Log;
using aio_test::outcome_of;
using aio_test::sleeper;

namespace {

std::vector<int> results_of(const std::vector<aio::Task<int>>& tasks) {
    std::vector<int> out;
    for (auto& t : tasks) out.push_back(t.result());
    return out;
}

} // namespace

// ------------------------------------------------------------------------------------ wait

TEST_CASE("wait(first_completed): the first task done, the rest pending and still running", "[wait]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::vector<int> done;
    std::size_t pending = 0;
    long long took = -1;
    std::vector<aio::Task<int>> tasks;
    auto body = [&]() -> aio::Task<> {
        const auto t0 = loop.time();
        tasks.push_back(aio::create_task(sleeper(log, "a", 30ms, 1)));
        tasks.push_back(aio::create_task(sleeper(log, "b", 10ms, 2)));
        tasks.push_back(aio::create_task(sleeper(log, "c", 20ms, 3)));
        auto r = co_await aio::wait(tasks, aio::ReturnWhen::first_completed);
        took = aio_test::ms_since(t0);
        done = results_of(r.done);
        pending = r.pending.size();
        log.push_back("wait returned");
        for (auto& t : r.pending) co_await t;
    };
    loop.run_until_complete(body());
    REQUIRE(done == std::vector<int>{2});
    REQUIRE(pending == 2);
    REQUIRE(took == 10);
    REQUIRE(log == Log{"b done", "wait returned", "c done", "a done"});
}

TEST_CASE("wait(all_completed): done in the order they finished, pending empty", "[wait]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::vector<int> done;
    std::size_t pending = 99;
    auto body = [&]() -> aio::Task<> {
        std::vector<aio::Task<int>> tasks;
        tasks.push_back(sleeper(log, "a", 30ms, 1)); // lazy: wait schedules them
        tasks.push_back(sleeper(log, "b", 10ms, 2));
        tasks.push_back(sleeper(log, "c", 20ms, 3));
        auto r = co_await aio::wait(std::move(tasks));
        done = results_of(r.done);
        pending = r.pending.size();
    };
    loop.run_until_complete(body());
    REQUIRE(done == std::vector<int>{2, 3, 1});
    REQUIRE(pending == 0);
}

TEST_CASE("wait(first_exception): returns when a task raises, cancellation does not count", "[wait]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::vector<std::string> done;
    std::size_t pending = 0;
    long long took = -1;
    auto body = [&]() -> aio::Task<> {
        const auto t0 = loop.time();
        auto victim = aio::create_task(sleeper(log, "victim", 1h));
        auto killer = [&]() -> aio::Task<> {
            co_await aio::sleep(5ms);
            victim.cancel();
        };
        aio::create_task(killer());
        std::vector<aio::Task<int>> tasks{victim, sleeper(log, "ok", 10ms), failer(log, "bad", 20ms, "x"),
                                          sleeper(log, "slow", 30ms)};
        auto r = co_await aio::wait(tasks, aio::ReturnWhen::first_exception);
        took = aio_test::ms_since(t0);
        for (auto& t : r.done) done.push_back(t.cancelled() ? "cancelled" : aio_test::describe(t.exception()));
        pending = r.pending.size();
        for (auto& t : r.pending) {
            t.cancel();
            (void)co_await outcome_of(t);
        }
    };
    loop.run_until_complete(body());
    REQUIRE(took == 20);
    REQUIRE(done == std::vector<std::string>{"cancelled", "value", "error: x"}); // victim, ok, bad
    REQUIRE(pending == 1);
}

TEST_CASE("wait(first_exception) without any exception waits for all", "[wait]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::size_t done = 0, pending = 9;
    long long took = -1;
    auto body = [&]() -> aio::Task<> {
        const auto t0 = loop.time();
        std::vector<aio::Task<int>> tasks{sleeper(log, "a", 10ms), sleeper(log, "b", 20ms)};
        auto r = co_await aio::wait(tasks, aio::ReturnWhen::first_exception);
        took = aio_test::ms_since(t0);
        done = r.done.size();
        pending = r.pending.size();
    };
    loop.run_until_complete(body());
    REQUIRE(took == 20);
    REQUIRE(done == 2);
    REQUIRE(pending == 0);
}

TEST_CASE("wait with a timeout returns what is done so far and cancels nothing", "[wait]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::size_t done = 0, pending = 0;
    long long took = -1;
    auto body = [&]() -> aio::Task<> {
        const auto t0 = loop.time();
        std::vector<aio::Task<int>> tasks{sleeper(log, "a", 10ms), sleeper(log, "b", 20ms), sleeper(log, "c", 30ms)};
        auto r = co_await aio::wait(tasks, aio::ReturnWhen::all_completed, 15ms);
        took = aio_test::ms_since(t0);
        done = r.done.size();
        pending = r.pending.size();
        log.push_back("timed out");
        for (auto& t : r.pending) co_await t;
    };
    loop.run_until_complete(body());
    REQUIRE(took == 15);
    REQUIRE(done == 1);
    REQUIRE(pending == 2);
    REQUIRE(log == Log{"a done", "timed out", "b done", "c done"});
}

TEST_CASE("wait({}) throws aio::ValueError", "[wait]") {
    REQUIRE_THROWS_AS(aio::wait(std::vector<aio::Task<int>>{}), aio::ValueError);
    aio::EventLoop loop(aio_test::virtual_loop());
    std::string outcome;
    auto body = [&]() -> aio::Task<> {
        outcome = co_await outcome_of([]() -> aio::Task<> {
            (void)co_await aio::wait(std::vector<aio::Task<>>{}, aio::ReturnWhen::first_completed);
        }());
    };
    loop.run_until_complete(body());
    REQUIRE_THAT(outcome, Catch::StartsWith("ValueError: ") && Catch::Contains("empty"));
}

TEST_CASE("wait: a task given twice counts once", "[wait]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::size_t done = 0, pending = 0;
    auto body = [&]() -> aio::Task<> {
        auto a = aio::create_task(sleeper(log, "a", 1ms));
        auto b = aio::create_task(sleeper(log, "b", 2ms));
        std::vector<aio::Task<int>> tasks{a, b, a, a};
        auto r = co_await aio::wait(tasks);
        done = r.done.size();
        pending = r.pending.size();
    };
    loop.run_until_complete(body());
    REQUIRE(done == 2);
    REQUIRE(pending == 0);
}

TEST_CASE("wait: cancelling the waiter cancels none of the tasks", "[wait][cancel]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::string outcome;
    std::vector<aio::Task<int>> tasks;
    auto waiter = [&]() -> aio::Task<> { (void)co_await aio::wait(tasks, aio::ReturnWhen::all_completed, 1h); };
    auto body = [&]() -> aio::Task<> {
        tasks = {aio::create_task(sleeper(log, "a", 10ms, 1)), aio::create_task(sleeper(log, "b", 20ms, 2))};
        auto w = aio::create_task(waiter());
        co_await aio::sleep(5ms);
        w.cancel("leave them");
        outcome = co_await outcome_of(w);
        log.push_back("waiter cancelled");
        for (auto& t : tasks) co_await t;
        REQUIRE(aio_test::timers_of(loop).empty()); // the wait's one-hour timeout went with it
    };
    loop.run_until_complete(body());
    REQUIRE(outcome == "CancelledError: leave them");
    REQUIRE(log == Log{"waiter cancelled", "a done", "b done"});
    REQUIRE(results_of(tasks) == std::vector<int>{1, 2});
}

// ------------------------------------------------------------------------------- as_completed

TEST_CASE("as_completed: results in completion order", "[as_completed]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::vector<int> got;
    std::vector<long long> at;
    auto body = [&]() -> aio::Task<> {
        const auto t0 = loop.time();
        std::vector<aio::Task<int>> tasks{sleeper(log, "a", 30ms, 30), sleeper(log, "b", 10ms, 10),
                                          sleeper(log, "c", 20ms, 20)};
        for (auto next : aio::as_completed(tasks)) {
            int r = co_await next;
            got.push_back(r);
            at.push_back(aio_test::ms_since(t0));
        }
    };
    loop.run_until_complete(body());
    REQUIRE(got == std::vector<int>{10, 20, 30});
    REQUIRE(at == std::vector<long long>{10, 20, 30});
}

TEST_CASE("as_completed: a failed task rethrows at its turn, the others still come", "[as_completed]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::vector<std::string> got;
    auto body = [&]() -> aio::Task<> {
        std::vector<aio::Task<int>> tasks{sleeper(log, "a", 30ms, 30), failer(log, "b", 10ms, "b failed"),
                                          sleeper(log, "c", 20ms, 20)};
        for (auto next : aio::as_completed(tasks)) got.push_back(co_await outcome_of(next.task()));
    };
    loop.run_until_complete(body());
    REQUIRE(got == std::vector<std::string>{"error: b failed", "value", "value"});
}

TEST_CASE("as_completed with a timeout: TimeoutError on the next await after it passed, nothing cancelled",
          "[as_completed]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::vector<std::string> got;
    long long timed_out_at = -1;
    auto body = [&]() -> aio::Task<> {
        const auto t0 = loop.time();
        std::vector<aio::Task<int>> tasks{aio::create_task(sleeper(log, "a", 10ms, 1)),
                                          aio::create_task(sleeper(log, "b", 30ms, 2))};
        auto it = aio::as_completed(tasks, 20ms);
        REQUIRE(it.size() == 2);
        for (auto next : it) {
            got.push_back(co_await outcome_of(next.task()));
            if (timed_out_at < 0 && got.back() == "TimeoutError") timed_out_at = aio_test::ms_since(t0);
        }
        REQUIRE_FALSE(tasks[1].done());
        co_await tasks[1];
    };
    loop.run_until_complete(body());
    REQUIRE(got == std::vector<std::string>{"value", "TimeoutError"});
    REQUIRE(timed_out_at == 20);
    REQUIRE(log == Log{"a done", "b done"});
}

TEST_CASE("as_completed: duplicates count once", "[as_completed]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::size_t n = 0;
    auto body = [&]() -> aio::Task<> {
        auto a = aio::create_task(sleeper(log, "a", 1ms, 1));
        std::vector<aio::Task<int>> tasks{a, a};
        for (auto next : aio::as_completed(tasks)) {
            (void)co_await next;
            ++n;
        }
    };
    loop.run_until_complete(body());
    REQUIRE(n == 1);
}

TEST_CASE("as_completed: cancelling the awaiter of next cancels no task", "[as_completed][cancel]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::string outcome;
    std::vector<aio::Task<int>> tasks;
    auto body = [&]() -> aio::Task<> {
        tasks = {aio::create_task(sleeper(log, "a", 10ms, 1))};
        auto range = aio::as_completed(tasks, 1h);
        auto w = aio::create_task((*range.begin()).task());
        co_await aio::sleep(1ms);
        w.cancel("no");
        outcome = co_await outcome_of(w);
        REQUIRE(aio_test::timers_of(loop).size() == 1); // only a's sleep: the 1 h deadline is gone
        co_await tasks[0];
    };
    loop.run_until_complete(body());
    REQUIRE(outcome == "CancelledError: no");
    REQUIRE(log == Log{"a done"});
}

// Hidden ([.]): known library bug, reported. Two Nexts awaited at the same time: the TaskSet
// has a single waiter slot, so the first awaiter is never woken.
TEST_CASE("as_completed: two awaits of different steps at once both complete", "[.][as_completed][bug]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::vector<int> got;
    auto body = [&]() -> aio::Task<> {
        std::vector<aio::Task<int>> tasks{sleeper(log, "a", 10ms, 1), sleeper(log, "b", 20ms, 2)};
        auto range = aio::as_completed(tasks);
        auto it = range.begin();
        auto first = (*it).task();
        ++it;
        auto second = (*it).task();
        auto r = co_await aio::wait_for(aio::gather(first, second), 1h);
        got = {std::get<0>(r), std::get<1>(r)};
    };
    loop.run_until_complete(body());
    REQUIRE(got == std::vector<int>{1, 2});
}

// ----------------------------------------------------------------------------------- shield

TEST_CASE("shield: cancelling the awaiter leaves the inner task running, it finishes with its result",
          "[shield][cancel]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::string outcome;
    long long cancelled_at = -1;
    aio::Task<int> inner;
    auto waiter = [&]() -> aio::Task<> { (void)co_await aio::shield(inner); };
    auto body = [&]() -> aio::Task<> {
        const auto t0 = loop.time();
        inner = aio::create_task(sleeper(log, "inner", 20ms, 5));
        auto w = aio::create_task(waiter());
        co_await aio::sleep(5ms);
        w.cancel("outer only");
        outcome = co_await outcome_of(w);
        cancelled_at = aio_test::ms_since(t0);
        log.push_back("waiter cancelled");
        REQUIRE_FALSE(inner.done());
        co_await inner;
    };
    loop.run_until_complete(body());
    REQUIRE(outcome == "CancelledError: outer only");
    REQUIRE(cancelled_at == 5); // at once, without waiting for the inner task
    REQUIRE(log == Log{"waiter cancelled", "inner done"});
    REQUIRE(inner.result() == 5);
    REQUIRE_FALSE(inner.cancelled());
}

TEST_CASE("shield of a lazy coroutine: it runs as a task and survives the awaiter's cancellation",
          "[shield][cancel]") {
    aio_test::CountedBaseline baseline;
    {
        aio::EventLoop loop(aio_test::virtual_loop());
        Log log;
        std::string outcome;
        auto waiter = [&]() -> aio::Task<> { (void)co_await aio::shield(sleeper(log, "inner", 20ms, 5)); };
        auto body = [&]() -> aio::Task<> {
            auto w = aio::create_task(waiter());
            co_await aio::sleep(5ms);
            w.cancel();
            outcome = co_await outcome_of(w);
            REQUIRE(aio::all_tasks().size() == 2); // main and the shielded one
            co_await aio::sleep(30ms);
            REQUIRE(aio::all_tasks().size() == 1);
        };
        loop.run_until_complete(body());
        REQUIRE(outcome == "CancelledError: ");
        REQUIRE(log == Log{"inner done"});
    }
    REQUIRE(baseline.leaked() == 0);
}

TEST_CASE("shield: the value when nobody cancels, CancelledError when the inner task is cancelled",
          "[shield]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    int got = 0;
    std::string outcome;
    auto body = [&]() -> aio::Task<> {
        got = co_await aio::shield(sleeper(log, "a", 1ms, 8));
        auto inner = aio::create_task(sleeper(log, "b", 1h));
        auto killer = [&]() -> aio::Task<> {
            co_await aio::sleep(1ms);
            inner.cancel("inner killed");
        };
        aio::create_task(killer());
        outcome = co_await outcome_of(aio::shield(inner));
    };
    loop.run_until_complete(body());
    REQUIRE(got == 8);
    REQUIRE(outcome == "CancelledError: inner killed");
}

TEST_CASE("shield inside wait_for: the timeout does not cancel the shielded task", "[shield][wait_for]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::string outcome;
    aio::Task<int> inner;
    auto body = [&]() -> aio::Task<> {
        inner = aio::create_task(sleeper(log, "inner", 20ms, 4));
        outcome = co_await outcome_of(aio::wait_for(aio::shield(inner), 5ms));
        log.push_back("timed out");
        co_await inner;
    };
    loop.run_until_complete(body());
    REQUIRE(outcome == "TimeoutError");
    REQUIRE(log == Log{"timed out", "inner done"});
    REQUIRE(inner.result() == 4);
}

// ----------------------------------------------------------------------------- current_task

TEST_CASE("current_task() is right across interleaved tasks and empty outside them", "[current_task]") {
    // No running loop: RuntimeError, as asyncio.current_task(); in a callback: empty.
    REQUIRE(aio_test::runtime_error_of([] { (void)aio::current_task(); }).find("no running event loop") != std::string::npos);
    aio::EventLoop loop(aio_test::virtual_loop());
    int mismatches = 0, checks = 0;
    bool empty_in_callback = false;
    auto lazy_check = [&](aio::TaskRef expected) -> aio::Task<> {
        ++checks;
        if (!(aio::current_task() == expected)) ++mismatches;
        co_await aio::sleep(0s);
        ++checks;
        if (!(aio::current_task() == expected)) ++mismatches;
    };
    auto worker = [&](int id) -> aio::Task<int> {
        aio::TaskRef me = aio::current_task();
        for (int i = 0; i < 5; ++i) {
            co_await aio::sleep(std::chrono::milliseconds((id * 7 + i * 3) % 5));
            ++checks;
            if (!(aio::current_task() == me)) ++mismatches;
            co_await lazy_check(me);
        }
        co_return id;
    };
    auto body = [&]() -> aio::Task<> {
        aio::TaskRef me = aio::current_task();
        std::vector<aio::Task<int>> ws;
        for (int i = 0; i < 6; ++i) ws.push_back(aio::create_task(worker(i)));
        aio::get_running_loop().call_soon([&] { empty_in_callback = !aio::current_task().valid(); });
        std::vector<aio::TaskRef> refs(ws.begin(), ws.end());
        (void)co_await aio::gather(std::move(ws));
        ++checks;
        if (!(aio::current_task() == me)) ++mismatches;
        for (auto& r : refs)
            if (r == me) ++mismatches;
    };
    loop.run_until_complete(body());
    REQUIRE(checks == 6 * 5 * 3 + 1);
    REQUIRE(mismatches == 0);
    REQUIRE(empty_in_callback);
    REQUIRE(aio_test::runtime_error_of([] { (void)aio::current_task(); }).find("no running event loop") != std::string::npos);
}
