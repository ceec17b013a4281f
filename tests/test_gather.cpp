// Tests for aio::gather, after CPython's test_tasks.py / test_gather (GatherTests):
// results in argument order, return_exceptions, lazy coroutines scheduled as tasks, the first
// exception propagating while the others keep running, and cancellation in both directions.
#include <aio/aio.hpp>

#include "catch.hpp"
#include "combinator_util.hpp"
#include "counted.hpp"

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <variant>
#include <vector>

using namespace std::chrono_literals;
using aio_test::Counted;
using aio_test::failer;
using aio_test::Log;
using aio_test::outcome_of;
using aio_test::sleeper;
using aio_test::slow_to_cancel;

namespace {

aio::Task<std::string> text_after(Log& log, std::string s, aio::Clock::duration d) {
    co_await aio::sleep(d);
    log.push_back(s + " done");
    co_return s;
}

aio::Task<> nothing_after(Log& log, aio::Clock::duration d) {
    co_await aio::sleep(d);
    log.push_back("void done");
}

} // namespace

TEST_CASE("gather: a tuple in argument order whatever the finishing order, void gives monostate", "[gather]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::tuple<int, std::string, std::monostate> got;
    long long took = -1;
    auto body = [&]() -> aio::Task<> {
        const auto t0 = loop.time();
        got = co_await aio::gather(sleeper(log, "a", 20ms, 1), text_after(log, "two", 10ms),
                                   nothing_after(log, 30ms));
        took = aio_test::ms_since(t0);
    };
    loop.run_until_complete(body());
    static_assert(std::is_same_v<decltype(aio::gather(std::declval<aio::Task<int>>(), std::declval<aio::Task<>>())),
                                 aio::Task<std::tuple<int, std::monostate>>>);
    REQUIRE(log == Log{"two done", "a done", "void done"}); // finished 2, 1, 3
    REQUIRE(std::get<0>(got) == 1);
    REQUIRE(std::get<1>(got) == "two");
    REQUIRE(took == 30); // concurrently: the longest, not the sum
}

TEST_CASE("gather: already started tasks and lazy coroutines mix, results [2,1,3] order kept", "[gather]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::tuple<int, int, int> got;
    auto body = [&]() -> aio::Task<> {
        auto first = aio::create_task(sleeper(log, "1", 20ms, 1));
        auto third = aio::create_task(sleeper(log, "3", 30ms, 3));
        got = co_await aio::gather(aio::Task<int>(first), sleeper(log, "2", 10ms, 2), aio::Task<int>(third));
    };
    loop.run_until_complete(body());
    REQUIRE(log == Log{"2 done", "1 done", "3 done"});
    REQUIRE(got == std::make_tuple(1, 2, 3));
}

TEST_CASE("gather(vector) gives a vector in order, an empty vector gives an empty vector", "[gather]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::vector<int> got, empty{42};
    auto body = [&]() -> aio::Task<> {
        std::vector<aio::Task<int>> tasks;
        tasks.push_back(sleeper(log, "a", 30ms, 10));
        tasks.push_back(sleeper(log, "b", 10ms, 20));
        tasks.push_back(sleeper(log, "c", 20ms, 30));
        got = co_await aio::gather(std::move(tasks));
        empty = co_await aio::gather(std::vector<aio::Task<int>>{});
    };
    loop.run_until_complete(body());
    REQUIRE(log == Log{"b done", "c done", "a done"});
    REQUIRE(got == std::vector<int>{10, 20, 30});
    REQUIRE(empty.empty());
}

TEST_CASE("gather(vector<Task<void>>) gives monostates, move-only results are moved out", "[gather]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::size_t voids = 0;
    int sum = 0;
    auto make = [](int v) -> aio::Task<std::unique_ptr<int>> {
        co_await aio::sleep(std::chrono::milliseconds(10 - v));
        co_return std::make_unique<int>(v);
    };
    auto body = [&]() -> aio::Task<> {
        std::vector<aio::Task<>> vs;
        for (int i = 0; i < 3; ++i) vs.push_back(nothing_after(log, 1ms));
        std::vector<std::monostate> m = co_await aio::gather(std::move(vs));
        voids = m.size();
        std::vector<aio::Task<std::unique_ptr<int>>> ps;
        for (int i = 1; i <= 3; ++i) ps.push_back(make(i));
        std::vector<std::unique_ptr<int>> got = co_await aio::gather(std::move(ps));
        for (auto& p : got) sum = sum * 10 + *p;
    };
    loop.run_until_complete(body());
    REQUIRE(voids == 3);
    REQUIRE(sum == 123);
}

TEST_CASE("gather(return_exceptions): a Result per child mixing values, exceptions and cancellations",
          "[gather]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::vector<std::string> seen;
    bool cancelled_value_throws = false;
    auto body = [&]() -> aio::Task<> {
        auto victim = aio::create_task(sleeper(log, "victim", 1h));
        auto canceller = [&]() -> aio::Task<> {
            co_await aio::sleep(5ms);
            victim.cancel("by a bystander");
        };
        aio::create_task(canceller());
        auto [a, b, c, d] = co_await aio::gather(aio::return_exceptions, sleeper(log, "a", 10ms, 7),
                                                 failer(log, "b", 1ms, "b failed"), aio::Task<int>(victim),
                                                 nothing_after(log, 2ms));
        static_assert(std::is_same_v<decltype(a), aio::Result<int>>);
        static_assert(std::is_same_v<decltype(d), aio::Result<void>>);
        seen.push_back(a.has_value() ? "a=" + std::to_string(a.value()) : "a?");
        seen.push_back(aio_test::describe(b.exception()));
        seen.push_back(aio_test::describe(c.exception()));
        seen.push_back(d.has_value() ? "d ok" : "d?");
        try {
            (void)c.value();
        } catch (const aio::CancelledError&) {
            cancelled_value_throws = true;
        }
    };
    loop.run_until_complete(body());
    REQUIRE(seen == std::vector<std::string>{"a=7", "error: b failed", "CancelledError: by a bystander", "d ok"});
    REQUIRE(cancelled_value_throws);
    // Every child ran to its end: return_exceptions waits for all of them.
    REQUIRE(log == Log{"b raises", "void done", "victim cancelled: by a bystander", "a done"});
}

TEST_CASE("gather(return_exceptions, vector) gives a vector of Results", "[gather]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::vector<std::string> seen;
    auto body = [&]() -> aio::Task<> {
        std::vector<aio::Task<int>> ts;
        ts.push_back(failer(log, "x", 2ms, "x failed"));
        ts.push_back(sleeper(log, "y", 1ms, 5));
        auto results = co_await aio::gather(aio::return_exceptions, std::move(ts));
        for (auto& r : results) seen.push_back(r ? std::to_string(r.value()) : aio_test::describe(r.exception()));
    };
    loop.run_until_complete(body());
    REQUIRE(seen == std::vector<std::string>{"error: x failed", "5"});
}

TEST_CASE("gather schedules lazy coroutines as tasks of their own, at once", "[gather]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::vector<std::string> names;
    std::string outer_name;
    auto child = [&](std::string tag) -> aio::Task<int> {
        log.push_back(tag + " started");
        names.push_back(aio::current_task().get_name());
        co_await aio::sleep(1ms);
        co_return 1;
    };
    auto body = [&]() -> aio::Task<> {
        outer_name = aio::current_task().get_name();
        auto g = aio::gather(child("a"), child("b"));
        log.push_back("gather made");
        co_await aio::sleep(0s); // the children run now, before the gather is awaited
        log.push_back("after yield");
        co_await g;
    };
    loop.run_until_complete(body());
    REQUIRE(log == Log{"gather made", "a started", "b started", "after yield"});
    REQUIRE(names.size() == 2);
    REQUIRE(names[0] != outer_name);
    REQUIRE(names[1] != outer_name);
    REQUIRE(names[0] != names[1]);
    REQUIRE(names[0].rfind("Task-", 0) == 0);
}

TEST_CASE("gather: the first exception propagates and the other children keep running", "[gather]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::string outcome;
    long long failed_at = -1, ended_at = -1;
    aio::Task<int> slow;
    auto body = [&]() -> aio::Task<> {
        const auto t0 = loop.time();
        slow = aio::create_task(sleeper(log, "slow", 30ms, 3));
        outcome = co_await outcome_of(aio::gather(sleeper(log, "fast", 5ms, 1), failer(log, "bad", 10ms, "boom"),
                                                  aio::Task<int>(slow), failer(log, "worse", 20ms, "later boom")));
        failed_at = aio_test::ms_since(t0);
        log.push_back("gather raised");
        co_await aio::sleep(100ms);
        ended_at = aio_test::ms_since(t0);
    };
    std::vector<std::string> reports;
    loop.set_exception_handler(
        [&](aio::EventLoop&, const aio::ExceptionContext& c) { reports.push_back(c.message); });
    loop.run_until_complete(body());
    REQUIRE(outcome == "error: boom");
    REQUIRE(failed_at == 10);
    REQUIRE(ended_at == 110);
    REQUIRE(log == Log{"fast done", "bad raises", "gather raised", "worse raises", "slow done"});
    REQUIRE(slow.done());
    REQUIRE_FALSE(slow.cancelled());
    REQUIRE(slow.result() == 3);
    // asyncio: gather marks its children's exceptions retrieved, so "worse" is not reported.
    REQUIRE(reports.empty());
}

TEST_CASE("gather: cancelling the awaiting task cancels every child and waits for them", "[gather][cancel]") {
    aio_test::CountedBaseline baseline;
    {
        aio::EventLoop loop(aio_test::virtual_loop());
        Log log;
        std::string outcome;
        long long took = -1;
        aio::Task<int> done_child;
        auto waiter = [&]() -> aio::Task<> {
            try {
                co_await aio::gather(sleeper(log, "a", 1h), slow_to_cancel(log, "b", 1h, 5ms),
                                     aio::Task<int>(done_child));
            } catch (const aio::CancelledError& e) {
                log.push_back("waiter got CancelledError: " + e.message());
                throw;
            }
        };
        auto body = [&]() -> aio::Task<> {
            const auto t0 = loop.time();
            done_child = aio::create_task(sleeper(log, "quick", 1ms, 9));
            auto w = aio::create_task(waiter());
            co_await aio::sleep(10ms);
            REQUIRE(w.cancel("stop"));
            outcome = co_await outcome_of(w);
            took = aio_test::ms_since(t0);
            REQUIRE(w.cancelled());
        };
        loop.run_until_complete(body());
        REQUIRE(outcome == "CancelledError: stop");
        REQUIRE(took == 15); // the cleanup of b (5 ms) was waited for
        REQUIRE(log == Log{"quick done", "a cancelled: stop", "b cleanup start", "b cleanup end",
                           "waiter got CancelledError: stop"});
        REQUIRE_FALSE(done_child.cancelled());
        done_child = {};
    }
    REQUIRE(baseline.leaked() == 0);
}

TEST_CASE("gather: cancelling the gather task itself cancels every child", "[gather][cancel]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::string outcome;
    aio::Task<int> a, b;
    auto body = [&]() -> aio::Task<> {
        a = aio::create_task(sleeper(log, "a", 1h));
        b = aio::create_task(sleeper(log, "b", 1h));
        auto g = aio::create_task(aio::gather(aio::Task<int>(a), aio::Task<int>(b)));
        co_await aio::sleep(1ms);
        REQUIRE(g.cancel("gather cancelled"));
        outcome = co_await outcome_of(g);
        REQUIRE(g.cancelled());
    };
    loop.run_until_complete(body());
    REQUIRE(outcome == "CancelledError: gather cancelled");
    REQUIRE(a.cancelled());
    REQUIRE(b.cancelled());
    REQUIRE(log == Log{"a cancelled: gather cancelled", "b cancelled: gather cancelled"});
}

TEST_CASE("gather(return_exceptions): cancelling it still propagates CancelledError", "[gather][cancel]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::string outcome;
    auto body = [&]() -> aio::Task<> {
        auto g = aio::create_task(
            aio::gather(aio::return_exceptions, sleeper(log, "a", 1h), sleeper(log, "b", 1h)));
        co_await aio::sleep(1ms);
        g.cancel("anyway");
        outcome = co_await outcome_of(g);
    };
    loop.run_until_complete(body());
    REQUIRE(outcome == "CancelledError: anyway");
    REQUIRE(log == Log{"a cancelled: anyway", "b cancelled: anyway"});
}

TEST_CASE("gather: a child that swallows the cancellation does not stop the gather from being cancelled",
          "[gather][cancel]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::string outcome;
    aio::Task<int> stubborn;
    auto stubborn_body = [&]() -> aio::Task<int> {
        try {
            co_await aio::sleep(1h);
        } catch (const aio::CancelledError&) {
            log.push_back("stubborn swallowed it");
        }
        co_return 5;
    };
    auto body = [&]() -> aio::Task<> {
        stubborn = aio::create_task(stubborn_body());
        auto g = aio::create_task(aio::gather(aio::Task<int>(stubborn), sleeper(log, "other", 1h)));
        co_await aio::sleep(1ms);
        g.cancel("go");
        outcome = co_await outcome_of(g);
    };
    loop.run_until_complete(body());
    REQUIRE(outcome == "CancelledError: go"); // as asyncio: the outer gather is cancelled anyway
    REQUIRE(stubborn.result() == 5);
}

TEST_CASE("gather: a child's cancellation reaches the gather as CancelledError, the others go on",
          "[gather][cancel]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::string outcome;
    bool awaiter_cancelled = true;
    aio::Task<int> victim, other;
    auto body = [&]() -> aio::Task<> {
        victim = aio::create_task(sleeper(log, "victim", 1h));
        other = aio::create_task(sleeper(log, "other", 20ms, 2));
        auto killer = [&]() -> aio::Task<> {
            co_await aio::sleep(5ms);
            victim.cancel("child cancelled");
        };
        aio::create_task(killer());
        outcome = co_await outcome_of(aio::gather(aio::Task<int>(victim), aio::Task<int>(other)));
        awaiter_cancelled = aio::current_task().cancelling() != 0;
        log.push_back("gather ended");
        co_await other;
    };
    loop.run_until_complete(body());
    REQUIRE(outcome == "CancelledError: child cancelled");
    REQUIRE_FALSE(awaiter_cancelled); // the awaiting task itself was not cancelled
    REQUIRE(log == Log{"victim cancelled: child cancelled", "gather ended", "other done"});
    REQUIRE_FALSE(other.cancelled());
}

TEST_CASE("gather: cancel() after it is done returns false and cancels nothing", "[gather][cancel]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    aio::Task<std::tuple<int, int>> g;
    aio::Task<int> a;
    auto body = [&]() -> aio::Task<> {
        a = aio::create_task(sleeper(log, "a", 1ms, 1));
        g = aio::create_task(aio::gather(aio::Task<int>(a), sleeper(log, "b", 2ms, 2)));
        co_await g;
    };
    loop.run_until_complete(body());
    REQUIRE(g.done());
    REQUIRE_FALSE(g.cancel("too late"));
    REQUIRE_FALSE(g.cancelled());
    REQUIRE(g.result() == std::make_tuple(1, 2));
    REQUIRE_FALSE(a.cancel());
    REQUIRE(a.result() == 1);
}

TEST_CASE("gather of tasks that are already done returns their results", "[gather]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::tuple<int, int> got;
    std::string failed;
    auto body = [&]() -> aio::Task<> {
        auto a = aio::create_task(sleeper(log, "a", 1ms, 1));
        auto b = aio::create_task(sleeper(log, "b", 1ms, 2));
        auto bad = aio::create_task(failer(log, "bad", 1ms, "already failed"));
        co_await aio::sleep(5ms);
        got = co_await aio::gather(aio::Task<int>(a), aio::Task<int>(b));
        failed = co_await outcome_of(aio::gather(aio::Task<int>(a), aio::Task<int>(bad)));
    };
    loop.run_until_complete(body());
    REQUIRE(got == std::make_tuple(1, 2));
    REQUIRE(failed == "error: already failed");
}

TEST_CASE("gather frees every frame", "[gather][lifetime]") {
    aio_test::CountedBaseline baseline;
    {
        aio::EventLoop loop(aio_test::virtual_loop());
        Log log;
        auto body = [&]() -> aio::Task<> {
            (void)co_await outcome_of(aio::gather(sleeper(log, "a", 1ms), failer(log, "b", 2ms, "x"),
                                                  sleeper(log, "c", 3ms)));
            (void)co_await aio::gather(aio::return_exceptions, sleeper(log, "d", 1ms), failer(log, "e", 2ms, "y"));
            co_await aio::sleep(10ms);
            REQUIRE(aio_test::Counted::live() == baseline.at_start);
        };
        loop.run_until_complete(body());
    }
    REQUIRE(baseline.leaked() == 0);
}
