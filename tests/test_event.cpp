// Tests for aio::Event (include/aio/event.hpp).
#include <aio/event.hpp>
#include <aio/aio.hpp>

#include "catch.hpp"
#include "sync_util.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using sync_test::Log;
using sync_test::outcome_of;
using sync_test::run_turns;

TEST_CASE("Event: is_set, set, clear", "[event]") {
    aio::Event ev;
    REQUIRE_FALSE(ev.is_set());
    ev.set();
    REQUIRE(ev.is_set());
    ev.set();
    REQUIRE(ev.is_set());
    ev.clear();
    REQUIRE_FALSE(ev.is_set());
}

TEST_CASE("Event: set() wakes every waiter, in the order they started waiting (CPython test_wait)", "[event]") {
    aio::Event ev;
    Log log;
    auto waiter = [&](std::string name) -> aio::Task<> {
        co_await ev.wait();
        log.push_back(name);
    };
    auto body = [&]() -> aio::Task<> {
        auto t1 = aio::create_task(waiter("1"));
        auto t2 = aio::create_task(waiter("2"));
        co_await run_turns();
        // Scheduled before set() but not started: it finds the flag set and does not wait,
        // and runs before the woken waiters (CPython's test_wait gives [3, 1, 2] too).
        auto t3 = aio::create_task(waiter("3"));
        REQUIRE(log.empty());
        log.push_back("set");
        ev.set();
        co_await t1;
        co_await t2;
        co_await t3;
    };
    sync_test::run(body());
    REQUIRE(log == Log{"set", "3", "1", "2"});
}

TEST_CASE("Event: set/clear/set wakes each waiter exactly once", "[event]") {
    aio::Event ev;
    Log log;
    auto waiter = [&](std::string name) -> aio::Task<> {
        co_await ev.wait();
        log.push_back(name + " woke");
    };
    bool set_at_end = false;
    auto body = [&]() -> aio::Task<> {
        auto a = aio::create_task(waiter("a"));
        auto b = aio::create_task(waiter("b"));
        co_await run_turns();
        ev.set();
        ev.clear();
        ev.set();
        ev.set();
        co_await run_turns(3);
        ev.clear();
        ev.set();
        co_await run_turns(3);
        set_at_end = ev.is_set();
        co_await a;
        co_await b;
    };
    sync_test::run(body());
    REQUIRE(log == Log{"a woke", "b woke"});
    REQUIRE(set_at_end);
}

TEST_CASE("Event: wait() on a set event returns without suspending, after clear() it blocks", "[event]") {
    aio::Event ev;
    Log log;
    auto other = [&]() -> aio::Task<> {
        log.push_back("other ran");
        co_return;
    };
    auto setter = [&]() -> aio::Task<> {
        co_await aio::sleep(5ms);
        log.push_back("setter sets");
        ev.set();
    };
    auto body = [&]() -> aio::Task<> {
        ev.set();
        aio::create_task(other());
        co_await ev.wait(); // already set: no suspension, `other` has not run yet
        log.push_back("first wait returned");
        co_await run_turns();
        ev.clear();
        aio::create_task(setter());
        co_await ev.wait();
        log.push_back("second wait returned");
    };
    sync_test::run(body());
    REQUIRE(log == Log{"first wait returned", "other ran", "setter sets", "second wait returned"});
}

TEST_CASE("Event: a cancelled waiter leaves the waiters, the others are still woken", "[event][cancel]") {
    aio::Event ev;
    Log log;
    auto waiter = [&](std::string name) -> aio::Task<> {
        co_await ev.wait();
        log.push_back(name + " woke");
    };
    std::string b_outcome, c_outcome;
    auto body = [&]() -> aio::Task<> {
        auto a = aio::create_task(waiter("a"));
        auto b = aio::create_task(waiter("b"));
        auto c = aio::create_task(waiter("c"));
        co_await run_turns();
        b.cancel();
        b_outcome = co_await outcome_of(b);
        REQUIRE(log.empty());
        ev.set();
        c.cancel(); // woken, but cancelled before it ran: cancelled all the same
        co_await a;
        c_outcome = co_await outcome_of(c);
    };
    sync_test::run(body());
    REQUIRE(b_outcome == "CancelledError");
    REQUIRE(c_outcome == "CancelledError");
    REQUIRE(log == Log{"a woke"});
}

TEST_CASE("Event: waiting on it from a task of another loop throws RuntimeError", "[event][loop]") {
    aio::Event ev;
    aio::EventLoop first(sync_test::virtual_loop());
    auto waiter = [&]() -> aio::Task<> { co_await ev.wait(); };
    aio::Task<> pending;
    auto bind_to_first = [&]() -> aio::Task<> {
        pending = aio::create_task(waiter());
        co_await run_turns();
    };
    first.run_until_complete(bind_to_first());

    std::string wait_error, set_error;
    auto wait_it = [&]() -> aio::Task<> { co_await ev.wait(); };
    auto from_second = [&]() -> aio::Task<> {
        wait_error = co_await outcome_of(wait_it());
        try {
            ev.set(); // would wake a task of the first loop from the second
        } catch (const aio::RuntimeError& e) {
            set_error = e.what();
        }
    };
    sync_test::run(from_second());
    REQUIRE_THAT(wait_error, Catch::Contains("different event loop"));
    REQUIRE_THAT(set_error, Catch::Contains("different event loop"));
    REQUIRE_FALSE(ev.is_set());

    ev.set(); // outside any running loop: allowed, wakes the first loop's waiter
    REQUIRE(first.run_until_complete(outcome_of(pending)) == "ok");
}

TEST_CASE("Event: destroyed while tasks wait, the waiters can still be cancelled", "[event][lifetime]") {
    auto ev = std::make_unique<aio::Event>();
    std::string outcome;
    auto waiter = [&]() -> aio::Task<> { co_await ev->wait(); };
    auto body = [&]() -> aio::Task<> {
        auto w = aio::create_task(waiter());
        co_await run_turns();
        ev.reset();
        w.cancel();
        outcome = co_await outcome_of(w);
    };
    sync_test::run(body());
    REQUIRE(outcome == "CancelledError");
}

TEST_CASE("Event: aio::wait_for(ev.wait(), timeout) times out, or returns once set", "[event][cancel]") {
    aio::Event ev;
    Log log;
    auto setter = [&]() -> aio::Task<> {
        co_await aio::sleep(5ms);
        ev.set();
    };
    auto body = [&]() -> aio::Task<> {
        try {
            co_await aio::wait_for(ev.wait(), 10ms);
            log.push_back("set");
        } catch (const aio::TimeoutError&) {
            log.push_back("timeout");
        }
        aio::create_task(setter());
        co_await aio::wait_for(ev.wait(), 10ms);
        log.push_back("set");
    };
    sync_test::run(body());
    REQUIRE(log == Log{"timeout", "set"});
}
