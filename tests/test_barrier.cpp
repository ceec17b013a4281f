// Tests for aio::Barrier (include/aio/barrier.hpp; asyncio 3.11 semantics, after
// CPython's BarrierTests).
#include <aio/barrier.hpp>
#include <aio/aio.hpp>

#include "catch.hpp"
#include "sync_util.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using sync_test::Log;
using sync_test::ms_since;
using sync_test::outcome_of;
using sync_test::run_turns;

TEST_CASE("Barrier: parties < 1 throws ValueError, parties() and the initial state", "[barrier]") {
    REQUIRE_THROWS_AS(aio::Barrier(0), aio::ValueError);
    REQUIRE_THROWS_AS(aio::Barrier(-4), aio::ValueError);
    aio::Barrier barrier(3);
    REQUIRE(barrier.parties() == 3);
    REQUIRE(barrier.n_waiting() == 0);
    REQUIRE_FALSE(barrier.broken());
}

TEST_CASE("Barrier: each task gets its arrival index and all pass when the last arrives", "[barrier]") {
    aio::Barrier barrier(3);
    Log log;
    std::vector<std::size_t> waiting_counts;
    auto arrive = [&](std::string name, aio::Clock::duration delay) -> aio::Task<std::size_t> {
        const auto t0 = aio::get_running_loop().time();
        co_await aio::sleep(delay);
        const std::size_t index = co_await barrier.wait();
        log.push_back(name + " index " + std::to_string(index) + " at " + std::to_string(ms_since(t0)) + "ms");
        co_return index;
    };
    auto body = [&]() -> aio::Task<> {
        auto c = aio::create_task(arrive("c", 30ms));
        auto a = aio::create_task(arrive("a", 10ms));
        auto b = aio::create_task(arrive("b", 20ms));
        co_await aio::sleep(15ms);
        waiting_counts.push_back(barrier.n_waiting());
        co_await aio::sleep(10ms);
        waiting_counts.push_back(barrier.n_waiting());
        co_await a;
        co_await b;
        co_await c;
        waiting_counts.push_back(barrier.n_waiting());
    };
    sync_test::run(body());
    // The last to arrive passes without suspending, so it reports first.
    REQUIRE(log == Log{"c index 2 at 30ms", "a index 0 at 30ms", "b index 1 at 30ms"});
    REQUIRE(waiting_counts == std::vector<std::size_t>{1, 2, 0});
    REQUIRE_FALSE(barrier.broken());
}

TEST_CASE("Barrier(1) passes at once with index 0, every time", "[barrier]") {
    aio::Barrier barrier(1);
    std::vector<std::size_t> indices;
    auto body = [&]() -> aio::Task<> {
        for (int i = 0; i < 3; ++i) indices.push_back(co_await barrier.wait());
    };
    sync_test::run(body());
    REQUIRE(indices == std::vector<std::size_t>{0, 0, 0});
    REQUIRE(barrier.n_waiting() == 0);
}

TEST_CASE("Barrier: reusable, tasks that come back while it drains wait for the next round", "[barrier]") {
    aio::Barrier barrier(3);
    Log log;
    auto twice = [&](std::string name) -> aio::Task<> {
        const std::size_t first = co_await barrier.wait();
        log.push_back(name + " round 1 index " + std::to_string(first));
        const std::size_t second = co_await barrier.wait(); // the others may still be draining
        log.push_back(name + " round 2 index " + std::to_string(second));
    };
    auto body = [&]() -> aio::Task<> {
        std::vector<aio::Task<>> tasks;
        for (const char* name : {"a", "b", "c"}) tasks.push_back(aio::create_task(twice(name)));
        for (auto& t : tasks) co_await t;
    };
    sync_test::run(body());
    REQUIRE(log.size() == 6);
    // Every round-1 line comes before every round-2 line, and each round hands out 0, 1, 2.
    for (std::size_t i = 0; i < 3; ++i) REQUIRE_THAT(log[i], Catch::Contains("round 1"));
    for (const char* round : {"round 1", "round 2"}) {
        std::vector<std::string> indices;
        for (const auto& line : log)
            if (line.find(round) != std::string::npos) indices.push_back(line.substr(line.size() - 1));
        std::sort(indices.begin(), indices.end());
        REQUIRE(indices == std::vector<std::string>{"0", "1", "2"});
    }
    REQUIRE(barrier.n_waiting() == 0);
    REQUIRE_FALSE(barrier.broken());
}

TEST_CASE("Barrier: while it drains, new arrivals block and n_waiting() is 0", "[barrier]") {
    aio::Barrier barrier(2);
    Log log;
    std::vector<std::size_t> waiting;
    auto arrive = [&](std::string name) -> aio::Task<> {
        const std::size_t i = co_await barrier.wait();
        log.push_back(name + " passed " + std::to_string(i));
    };
    auto body = [&]() -> aio::Task<> {
        auto a = aio::create_task(arrive("a"));
        co_await run_turns();
        // b fills the barrier and releases a; c arrives while a has not left yet (draining).
        auto b = aio::create_task(arrive("b"));
        auto c = aio::create_task(arrive("c"));
        co_await run_turns(); // b passes, c blocks
        waiting.push_back(barrier.n_waiting()); // draining: 0
        co_await run_turns(); // a leaves: c is let in
        waiting.push_back(barrier.n_waiting());
        auto d = aio::create_task(arrive("d"));
        co_await a;
        co_await b;
        co_await c;
        co_await d;
    };
    sync_test::run(body());
    REQUIRE(log == Log{"b passed 1", "a passed 0", "d passed 1", "c passed 0"});
    REQUIRE(waiting == std::vector<std::size_t>{0, 1});
}

TEST_CASE("Barrier: reset() breaks the waiting tasks with BrokenBarrierError, then it is usable", "[barrier]") {
    aio::Barrier barrier(3);
    std::vector<std::string> outcomes;
    auto waiter = [&]() -> aio::Task<std::size_t> { co_return co_await barrier.wait(); };
    std::vector<std::size_t> again;
    auto body = [&]() -> aio::Task<> {
        auto a = aio::create_task(waiter());
        auto b = aio::create_task(waiter());
        co_await run_turns();
        REQUIRE(barrier.n_waiting() == 2);
        barrier.reset();
        outcomes.push_back(co_await outcome_of(a));
        outcomes.push_back(co_await outcome_of(b));
        REQUIRE_FALSE(barrier.broken());
        REQUIRE(barrier.n_waiting() == 0);
        // A full round works again.
        auto c = aio::create_task(waiter());
        auto d = aio::create_task(waiter());
        auto e = aio::create_task(waiter());
        again.push_back(co_await c);
        again.push_back(co_await d);
        again.push_back(co_await e);
    };
    sync_test::run(body());
    REQUIRE(outcomes == std::vector<std::string>{"BrokenBarrierError", "BrokenBarrierError"});
    REQUIRE(again == std::vector<std::size_t>{0, 1, 2});
}

TEST_CASE("Barrier: reset() while released tasks are still draining breaks those that have not run "
          "(CPython test_reset_barrier_when_tasks_half_draining)",
          "[barrier]") {
    constexpr int n = 5;
    aio::Barrier barrier(n);
    int broken = 0, passed = 0, resets = 0;
    std::size_t draining_left = n / 2;
    std::size_t inside = n; // tasks that have not yet returned from wait() in round 1
    auto task = [&]() -> aio::Task<> {
        try {
            co_await barrier.wait();
        } catch (const aio::BrokenBarrierError&) {
            ++broken;
            co_return;
        }
        ++passed;
        --inside;
        if (inside == draining_left) {
            ++resets;
            barrier.reset();
        }
    };
    auto body = [&]() -> aio::Task<> {
        std::vector<aio::Task<>> tasks;
        for (int i = 0; i < n; ++i) tasks.push_back(aio::create_task(task()));
        for (auto& t : tasks) co_await t;
    };
    sync_test::run(body());
    REQUIRE(resets == 1);
    REQUIRE(broken == static_cast<int>(draining_left));
    REQUIRE(passed == n - static_cast<int>(draining_left));
    REQUIRE(barrier.n_waiting() == 0);
    REQUIRE_FALSE(barrier.broken());
}

TEST_CASE("Barrier: abort() breaks current and later waits until reset()", "[barrier]") {
    aio::Barrier barrier(3);
    std::vector<std::string> outcomes;
    auto waiter = [&]() -> aio::Task<std::size_t> { co_return co_await barrier.wait(); };
    std::vector<std::size_t> after_reset;
    auto body = [&]() -> aio::Task<> {
        auto a = aio::create_task(waiter());
        co_await run_turns();
        barrier.abort();
        REQUIRE(barrier.broken());
        REQUIRE(barrier.n_waiting() == 0);
        outcomes.push_back(co_await outcome_of(a));
        outcomes.push_back(co_await outcome_of(waiter())); // a later wait fails at once
        barrier.reset();
        REQUIRE_FALSE(barrier.broken());
        auto x = aio::create_task(waiter());
        auto y = aio::create_task(waiter());
        auto z = aio::create_task(waiter());
        after_reset.push_back(co_await x);
        after_reset.push_back(co_await y);
        after_reset.push_back(co_await z);
    };
    sync_test::run(body());
    REQUIRE(outcomes == std::vector<std::string>{"BrokenBarrierError", "BrokenBarrierError"});
    REQUIRE(after_reset == std::vector<std::size_t>{0, 1, 2});
}

TEST_CASE("Barrier: abort() while tasks drain and others are blocked breaks them all", "[barrier]") {
    aio::Barrier barrier(2);
    std::vector<std::string> outcomes(3);
    auto waiter = [&](std::size_t slot) -> aio::Task<> {
        auto wait_once = [&]() -> aio::Task<std::size_t> { co_return co_await barrier.wait(); };
        outcomes[slot] = co_await outcome_of(wait_once());
    };
    auto body = [&]() -> aio::Task<> {
        auto a = aio::create_task(waiter(0));
        co_await run_turns(); // a waits inside
        auto b = aio::create_task(waiter(1)); // fills it: a is released but has not run
        auto c = aio::create_task(waiter(2)); // arrives while draining: blocked
        co_await run_turns();
        barrier.abort(); // before a or c run again
        co_await a;
        co_await b;
        co_await c;
    };
    sync_test::run(body());
    REQUIRE(outcomes == std::vector<std::string>{"BrokenBarrierError", "ok", "BrokenBarrierError"});
    REQUIRE(barrier.broken());
}

TEST_CASE("Barrier: a cancelled waiter leaves at once and no longer counts (CPython test_filling_tasks_cancel_one)",
          "[barrier][cancel]") {
    aio::Barrier barrier(3);
    Log log;
    auto waiter = [&](std::string name) -> aio::Task<> {
        const std::size_t i = co_await barrier.wait();
        log.push_back(name + " passed " + std::to_string(i));
    };
    std::vector<std::size_t> counts;
    std::string t1_outcome;
    auto body = [&]() -> aio::Task<> {
        auto t1 = aio::create_task(waiter("t1"));
        co_await run_turns();
        auto t2 = aio::create_task(waiter("t2"));
        co_await run_turns();
        counts.push_back(barrier.n_waiting()); // 2
        t1.cancel();
        counts.push_back(barrier.n_waiting()); // 1 at once: better than asyncio
        // Arriving in the same turn cannot trip the barrier with t1's place.
        auto t3 = aio::create_task(waiter("t3"));
        t1_outcome = co_await outcome_of(t1);
        co_await run_turns();
        counts.push_back(barrier.n_waiting()); // t2, t3
        REQUIRE(log.empty());
        auto t4 = aio::create_task(waiter("t4"));
        co_await t2;
        co_await t3;
        co_await t4;
        counts.push_back(barrier.n_waiting());
    };
    sync_test::run(body());
    REQUIRE(t1_outcome == "CancelledError");
    REQUIRE(counts == std::vector<std::size_t>{2, 1, 2, 0});
    // Numbered when the barrier fills, in order of arrival: unique despite t1's departure.
    REQUIRE(log == Log{"t4 passed 2", "t2 passed 0", "t3 passed 1"});
}

TEST_CASE("Barrier: a released task cancelled before it runs gets CancelledError, the others pass",
          "[barrier][cancel]") {
    aio::Barrier barrier(2);
    std::string a_outcome;
    std::size_t b_index = 99;
    auto waiter = [&]() -> aio::Task<> { co_await barrier.wait(); };
    auto body = [&]() -> aio::Task<> {
        auto a = aio::create_task(waiter());
        co_await run_turns();
        b_index = co_await barrier.wait(); // releases a ...
        a.cancel();                        // ... which is cancelled before it runs
        a_outcome = co_await outcome_of(a);
        REQUIRE(barrier.n_waiting() == 0);
    };
    sync_test::run(body());
    REQUIRE(b_index == 1);
    REQUIRE(a_outcome == "CancelledError");
}

TEST_CASE("Barrier: destroyed while tasks wait, the waiters can still be cancelled", "[barrier][lifetime]") {
    auto barrier = std::make_unique<aio::Barrier>(2);
    std::string outcome;
    auto waiter = [&]() -> aio::Task<> { co_await barrier->wait(); };
    auto body = [&]() -> aio::Task<> {
        auto w = aio::create_task(waiter());
        co_await run_turns();
        barrier.reset();
        w.cancel();
        outcome = co_await outcome_of(w);
    };
    sync_test::run(body());
    REQUIRE(outcome == "CancelledError");
}

TEST_CASE("Barrier: aio::wait_for(barrier.wait(), timeout) leaves the barrier on timeout", "[barrier][cancel]") {
    aio::Barrier barrier(2);
    Log log;
    std::vector<std::size_t> counts;
    auto other = [&]() -> aio::Task<std::size_t> { co_return co_await barrier.wait(); };
    auto body = [&]() -> aio::Task<> {
        try {
            (void)co_await aio::wait_for(barrier.wait(), 10ms);
            log.push_back("passed");
        } catch (const aio::TimeoutError&) {
            log.push_back("timeout");
        }
        counts.push_back(barrier.n_waiting());
        auto t = aio::create_task(other());
        const std::size_t mine = co_await aio::wait_for(barrier.wait(), 10ms);
        log.push_back("passed " + std::to_string(mine) + " and " + std::to_string(co_await t));
    };
    sync_test::run(body());
    REQUIRE(log == Log{"timeout", "passed 1 and 0"});
    REQUIRE(counts == std::vector<std::size_t>{0});
}
