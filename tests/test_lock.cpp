// Tests for aio::Lock (include/aio/lock.hpp).
#include <aio/lock.hpp>
#include <aio/aio.hpp>

#include "catch.hpp"
#include "sync_util.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using sync_test::Log;
using sync_test::outcome_of;
using sync_test::run_turns;

namespace {

// Tracks how many tasks believe they hold the lock; more than one is a bug.
struct Owners {
    int now = 0;
    int most = 0;
    void enter() { most = std::max(most, ++now); }
    void leave() { --now; }
};

} // namespace

TEST_CASE("Lock: acquire, locked, release, release of an unlocked lock throws RuntimeError", "[lock]") {
    aio::Lock lock;
    REQUIRE_FALSE(lock.locked());
    REQUIRE_THROWS_AS(lock.release(), aio::RuntimeError);
    bool was_locked = false;
    auto body = [&]() -> aio::Task<> {
        co_await lock.acquire();
        was_locked = lock.locked();
        lock.release();
    };
    sync_test::run(body());
    REQUIRE(was_locked);
    REQUIRE_FALSE(lock.locked());
    try {
        lock.release();
        FAIL("release() of an unlocked lock did not throw");
    } catch (const aio::RuntimeError& e) {
        REQUIRE_THAT(e.what(), Catch::Contains("not locked"));
    }
}

TEST_CASE("Lock: acquiring a free lock does not suspend", "[lock]") {
    aio::Lock lock;
    Log log;
    auto other = [&]() -> aio::Task<> {
        log.push_back("other ran");
        co_return;
    };
    auto body = [&]() -> aio::Task<> {
        aio::create_task(other());       // ready: it would run if acquire() suspended
        co_await lock.acquire();
        log.push_back("acquired");
        lock.release();
        co_await run_turns();
    };
    sync_test::run(body());
    REQUIRE(log == Log{"acquired", "other ran"});
}

TEST_CASE("Lock: waiters get the lock one at a time, in the order they asked (FIFO)", "[lock]") {
    aio::Lock lock;
    Log log;
    Owners owners;
    auto worker = [&](std::string name) -> aio::Task<> {
        co_await lock.acquire();
        owners.enter();
        log.push_back(name + " acquired");
        co_await aio::sleep(1ms);
        owners.leave();
        lock.release();
    };
    auto body = [&]() -> aio::Task<> {
        co_await lock.acquire(); // everyone else queues behind main
        std::vector<aio::Task<>> tasks;
        for (const char* name : {"a", "b", "c", "d"}) tasks.push_back(aio::create_task(worker(name)));
        co_await run_turns();
        log.push_back("main releases");
        lock.release();
        for (auto& t : tasks) co_await t;
    };
    sync_test::run(body());
    REQUIRE(log == Log{"main releases", "a acquired", "b acquired", "c acquired", "d acquired"});
    REQUIRE(owners.most == 1);
    REQUIRE_FALSE(lock.locked());
}

TEST_CASE("Lock: release hands the lock to the first waiter, a later task cannot take it first", "[lock]") {
    aio::Lock lock;
    Log log;
    bool locked_after_release = false;
    auto waiter = [&]() -> aio::Task<> {
        co_await lock.acquire();
        log.push_back("waiter acquired");
        co_await aio::sleep(1ms);
        log.push_back("waiter releases");
        lock.release();
    };
    auto body = [&]() -> aio::Task<> {
        co_await lock.acquire();
        auto t = aio::create_task(waiter());
        co_await run_turns(); // the waiter waits
        lock.release();       // handed to the waiter, which has not run yet
        locked_after_release = lock.locked();
        co_await lock.acquire(); // must queue behind the waiter
        log.push_back("main acquired again");
        lock.release();
        co_await t;
    };
    sync_test::run(body());
    REQUIRE(locked_after_release);
    REQUIRE(log == Log{"waiter acquired", "waiter releases", "main acquired again"});
}

TEST_CASE("Lock: a task cancelled while waiting never holds the lock and the lock stays usable", "[lock][cancel]") {
    aio::Lock lock;
    Log log;
    Owners owners;
    auto worker = [&](std::string name) -> aio::Task<> {
        co_await lock.acquire();
        owners.enter();
        log.push_back(name + " acquired");
        co_await aio::sleep(1ms);
        owners.leave();
        lock.release();
    };
    std::string b_outcome;
    auto body = [&]() -> aio::Task<> {
        co_await lock.acquire();
        auto a = aio::create_task(worker("a"));
        auto b = aio::create_task(worker("b"));
        auto c = aio::create_task(worker("c"));
        co_await run_turns();
        b.cancel("not needed");
        b_outcome = co_await outcome_of(b); // finishes while main still holds the lock
        log.push_back("b finished");
        lock.release();
        co_await a;
        co_await c;
        co_await lock.acquire(); // usable afterwards, without waiting
        log.push_back("main acquired again");
        lock.release();
    };
    sync_test::run(body());
    REQUIRE(b_outcome == "CancelledError");
    REQUIRE(log == Log{"b finished", "a acquired", "c acquired", "main acquired again"});
    REQUIRE(owners.most == 1);
    REQUIRE_FALSE(lock.locked());
}

TEST_CASE("Lock: cancel/release race — a waiter cancelled after release() handed it the lock passes it on "
          "(bpo-32734)",
          "[lock][cancel]") {
    aio::Lock lock;
    Log log;
    Owners owners;
    auto worker = [&](std::string name) -> aio::Task<> {
        co_await lock.acquire();
        owners.enter();
        log.push_back(name + " acquired");
        co_await aio::sleep(1ms);
        owners.leave();
        lock.release();
    };
    std::string a_outcome, b_outcome;
    bool locked_between = false;
    auto body = [&]() -> aio::Task<> {
        co_await lock.acquire();
        auto a = aio::create_task(worker("a"));
        auto b = aio::create_task(worker("b"));
        co_await run_turns();
        lock.release(); // hands the lock to a ...
        a.cancel();     // ... which is cancelled before it runs
        locked_between = lock.locked();
        a_outcome = co_await outcome_of(a);
        b_outcome = co_await outcome_of(b);
    };
    sync_test::run(body());
    REQUIRE(locked_between);
    REQUIRE(a_outcome == "CancelledError");
    REQUIRE(b_outcome == "ok");
    REQUIRE(log == Log{"b acquired"}); // only one waiter got it, and not the cancelled one
    REQUIRE(owners.most == 1);
    REQUIRE_FALSE(lock.locked());
}

TEST_CASE("Lock: cancel/release race with no other waiter leaves the lock free", "[lock][cancel]") {
    aio::Lock lock;
    bool acquired = false;
    bool locked_after = true;
    auto waiter = [&]() -> aio::Task<> {
        co_await lock.acquire();
        acquired = true;
    };
    auto body = [&]() -> aio::Task<> {
        co_await lock.acquire();
        auto a = aio::create_task(waiter());
        co_await run_turns();
        lock.release();
        a.cancel();
        co_await outcome_of(a);
        locked_after = lock.locked();
    };
    sync_test::run(body());
    REQUIRE_FALSE(acquired);
    REQUIRE_FALSE(locked_after);
}

TEST_CASE("Lock: cancel then release in the same turn: the next waiter gets the lock (CPython test_cancel_race)",
          "[lock][cancel]") {
    aio::Lock lock;
    aio::Event go;
    Log log;
    auto lockit = [&](std::string name, bool block) -> aio::Task<> {
        co_await lock.acquire();
        log.push_back(name + " acquired");
        if (block) co_await go.wait();
        lock.release();
    };
    std::string a_outcome, b_outcome, c_outcome;
    auto body = [&]() -> aio::Task<> {
        auto a = aio::create_task(lockit("a", true));
        co_await run_turns();
        auto b = aio::create_task(lockit("b", false));
        co_await run_turns();
        auto c = aio::create_task(lockit("c", false));
        co_await run_turns();
        go.set(); // a will release
        b.cancel();
        a_outcome = co_await outcome_of(a);
        b_outcome = co_await outcome_of(b);
        c_outcome = co_await outcome_of(c);
    };
    sync_test::run(body());
    REQUIRE(a_outcome == "ok");
    REQUIRE(b_outcome == "CancelledError");
    REQUIRE(c_outcome == "ok");
    REQUIRE(log == Log{"a acquired", "c acquired"});
    REQUIRE_FALSE(lock.locked());
}

TEST_CASE("Lock: a cancellation pending before acquire() waits is delivered without taking the lock",
          "[lock][cancel]") {
    aio::Lock lock;
    Log log;
    auto self_cancelling = [&]() -> aio::Task<> {
        aio::current_task().cancel("self");
        try {
            co_await lock.acquire(); // held by main: would wait, so the cancellation comes first
            log.push_back("acquired");
        } catch (const aio::CancelledError& e) {
            log.push_back("cancelled: " + e.message());
        }
    };
    auto body = [&]() -> aio::Task<> {
        co_await lock.acquire();
        co_await aio::create_task(self_cancelling());
        lock.release();
        REQUIRE_FALSE(lock.locked()); // main was the only holder
    };
    sync_test::run(body());
    REQUIRE(log == Log{"cancelled: self"});
}

TEST_CASE("Lock: uncancel() after the wait was cancelled still ends it with CancelledError, not the lock",
          "[lock][cancel]") {
    aio::Lock lock;
    Log log;
    auto waiter = [&]() -> aio::Task<> {
        try {
            co_await lock.acquire();
            log.push_back("acquired");
            lock.release();
        } catch (const aio::CancelledError&) {
            log.push_back("cancelled");
        }
    };
    bool locked_by_main = false;
    auto body = [&]() -> aio::Task<> {
        co_await lock.acquire();
        auto w = aio::create_task(waiter());
        co_await run_turns();
        w.cancel();
        w.uncancel(); // withdrawn, but the wait was already disarmed
        co_await w;
        locked_by_main = lock.locked();
        lock.release();
    };
    sync_test::run(body());
    REQUIRE(log == Log{"cancelled"});
    REQUIRE(locked_by_main);
    REQUIRE_FALSE(lock.locked());
}

TEST_CASE("Lock: scoped() releases at scope exit, also when an exception leaves the scope", "[lock]") {
    aio::Lock lock;
    Log log;
    auto body = [&]() -> aio::Task<> {
        {
            auto guard = co_await lock.scoped();
            log.push_back(lock.locked() ? "locked in scope" : "not locked in scope");
        }
        log.push_back(lock.locked() ? "locked after scope" : "free after scope");
        try {
            auto guard = co_await lock.scoped();
            throw std::runtime_error("boom");
        } catch (const std::runtime_error&) {
            log.push_back(lock.locked() ? "locked after throw" : "free after throw");
        }
        auto outer = co_await lock.scoped();
        auto moved = std::move(outer); // released once, by the guard it was moved into
    };
    sync_test::run(body());
    REQUIRE(log == Log{"locked in scope", "free after scope", "free after throw"});
    REQUIRE_FALSE(lock.locked());
}

TEST_CASE("Lock: waiting on it from a task of another loop throws RuntimeError", "[lock][loop]") {
    aio::Lock lock;
    aio::EventLoop first(sync_test::virtual_loop());
    auto waiter = [&]() -> aio::Task<> { co_await lock.acquire(); };
    aio::Task<> pending;
    auto bind_to_first = [&]() -> aio::Task<> {
        co_await lock.acquire();           // the fast path does not bind ...
        pending = aio::create_task(waiter()); // ... waiting does
        co_await run_turns();
    };
    first.run_until_complete(bind_to_first());
    REQUIRE(lock.locked());

    std::string wait_error, release_error;
    auto acquire_it = [&]() -> aio::Task<> { co_await lock.acquire(); };
    auto from_second = [&]() -> aio::Task<> {
        wait_error = co_await outcome_of(acquire_it());
        try {
            lock.release(); // would wake a task of the first loop
        } catch (const aio::RuntimeError& e) {
            release_error = e.what();
        }
    };
    sync_test::run(from_second());
    REQUIRE_THAT(wait_error, Catch::Contains("RuntimeError") && Catch::Contains("different event loop"));
    REQUIRE_THAT(release_error, Catch::Contains("different event loop"));
    REQUIRE(lock.locked()); // nothing changed

    pending.cancel();
    REQUIRE(first.run_until_complete(outcome_of(pending)) == "CancelledError");
}

TEST_CASE("Lock: destroyed while a task waits on it, the waiter can still be cancelled safely", "[lock][lifetime]") {
    auto lock = std::make_unique<aio::Lock>();
    std::string outcome;
    auto waiter = [&]() -> aio::Task<> { co_await lock->acquire(); };
    auto body = [&]() -> aio::Task<> {
        co_await lock->acquire();
        auto w = aio::create_task(waiter());
        co_await run_turns();
        lock.reset(); // the waiter is orphaned
        w.cancel();
        outcome = co_await outcome_of(w);
    };
    sync_test::run(body());
    REQUIRE(outcome == "CancelledError");
}

TEST_CASE("Lock: random acquire/release/cancel stress never has two owners and ends free", "[lock][stress]") {
    for (unsigned seed = 1; seed <= 40; ++seed) {
        INFO("seed " << seed);
        aio::Lock lock;
        Owners owners;
        int completed = 0;
        std::mt19937 rng(seed);
        auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
        auto worker = [&](int hold_ms) -> aio::Task<> {
            auto guard = co_await lock.scoped();
            owners.enter();
            try {
                co_await aio::sleep(std::chrono::milliseconds(hold_ms));
            } catch (const aio::CancelledError&) {
                owners.leave();
                throw;
            }
            owners.leave();
            ++completed;
        };
        int ok = 0, cancelled = 0;
        auto body = [&]() -> aio::Task<> {
            std::vector<aio::Task<>> tasks;
            for (int round = 0; round < 60; ++round) {
                tasks.push_back(aio::create_task(worker(pick(3))));
                if (pick(3) == 0) {
                    auto victim = static_cast<std::size_t>(pick(static_cast<int>(tasks.size())));
                    tasks[victim].cancel();
                }
                if (pick(2) == 0) co_await aio::sleep(std::chrono::milliseconds(pick(2)));
            }
            for (auto& t : tasks) {
                const std::string outcome = co_await outcome_of(t);
                if (outcome == "ok") ++ok;
                else if (outcome == "CancelledError")
                    ++cancelled;
            }
        };
        sync_test::run(body());
        REQUIRE(ok + cancelled == 60);
        REQUIRE(ok == completed);
        REQUIRE(cancelled > 0);
        REQUIRE(owners.most == 1);
        REQUIRE(owners.now == 0);
        REQUIRE_FALSE(lock.locked());
    }
}

TEST_CASE("Lock: aio::wait_for(lock.acquire(), timeout) times out without taking the lock", "[lock][cancel]") {
    aio::Lock lock;
    Log log;
    auto body = [&]() -> aio::Task<> {
        co_await lock.acquire();
        try {
            co_await aio::wait_for(lock.acquire(), 10ms);
            log.push_back("acquired twice");
        } catch (const aio::TimeoutError&) {
            log.push_back("timeout");
        }
        lock.release();
        log.push_back(lock.locked() ? "still locked" : "free");
        auto guard = co_await aio::wait_for(lock.scoped(), 10ms); // free: at once
        log.push_back(lock.locked() ? "locked by the guard" : "not locked");
    };
    sync_test::run(body());
    REQUIRE(log == Log{"timeout", "free", "locked by the guard"});
    REQUIRE_FALSE(lock.locked());
}
