// Tests for aio::Semaphore and aio::BoundedSemaphore (include/aio/semaphore.hpp).
#include <aio/semaphore.hpp>
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
using sync_test::ms_since;
using sync_test::outcome_of;
using sync_test::run_turns;

namespace {

struct Concurrency {
    int now = 0;
    int most = 0;
    void enter() { most = std::max(most, ++now); }
    void leave() { --now; }
};

// Takes `n` permits without waiting (each acquire must complete at once) and gives them back.
aio::Task<bool> takes_at_once(aio::Semaphore& sem, int n) {
    bool all = true;
    for (int i = 0; i < n; ++i) {
        all = all && !sem.locked();
        co_await sem.acquire();
    }
    const bool exhausted = sem.locked();
    for (int i = 0; i < n; ++i) sem.release();
    co_return all && exhausted;
}

} // namespace

TEST_CASE("Semaphore: negative initial value throws ValueError, locked() says whether acquire would wait",
          "[semaphore]") {
    REQUIRE_THROWS_AS(aio::Semaphore(-1), aio::ValueError);
    REQUIRE_THROWS_AS(aio::BoundedSemaphore(-3), aio::ValueError);
    aio::Semaphore zero(0);
    REQUIRE(zero.locked());
    aio::Semaphore one; // asyncio's default value is 1
    REQUIRE_FALSE(one.locked());
    bool locked_after_acquire = false;
    auto body = [&]() -> aio::Task<> {
        co_await one.acquire();
        locked_after_acquire = one.locked();
        one.release();
    };
    sync_test::run(body());
    REQUIRE(locked_after_acquire);
    REQUIRE_FALSE(one.locked());
}

TEST_CASE("Semaphore(n) bounds concurrency to n, waiters enter FIFO", "[semaphore]") {
    aio::Semaphore sem(3);
    Concurrency inside;
    Log log;
    std::vector<long long> entered_at(8);
    auto worker = [&](int i) -> aio::Task<> {
        const auto t0 = aio::get_running_loop().time();
        auto permit = co_await sem.scoped();
        inside.enter();
        entered_at[static_cast<std::size_t>(i)] = ms_since(t0);
        log.push_back("enter " + std::to_string(i));
        co_await aio::sleep(10ms);
        inside.leave();
    };
    auto body = [&]() -> aio::Task<> {
        std::vector<aio::Task<>> tasks;
        for (int i = 0; i < 8; ++i) tasks.push_back(aio::create_task(worker(i)));
        for (auto& t : tasks) co_await t;
    };
    sync_test::run(body());
    REQUIRE(inside.most == 3);
    REQUIRE(log == Log{"enter 0", "enter 1", "enter 2", "enter 3", "enter 4", "enter 5", "enter 6", "enter 7"});
    REQUIRE(entered_at == std::vector<long long>{0, 0, 0, 10, 10, 10, 20, 20});
    REQUIRE_FALSE(sem.locked());
}

TEST_CASE("Semaphore: release hands the permit to the first waiter, a later task cannot take it first",
          "[semaphore]") {
    aio::Semaphore sem(1);
    Log log;
    bool locked_after_release = false;
    auto waiter = [&]() -> aio::Task<> {
        co_await sem.acquire();
        log.push_back("waiter acquired");
        co_await aio::sleep(1ms);
        sem.release();
    };
    auto body = [&]() -> aio::Task<> {
        co_await sem.acquire();
        auto w = aio::create_task(waiter());
        co_await run_turns();
        sem.release();
        locked_after_release = sem.locked();
        co_await sem.acquire();
        log.push_back("main acquired again");
        sem.release();
        co_await w;
    };
    sync_test::run(body());
    REQUIRE(locked_after_release);
    REQUIRE(log == Log{"waiter acquired", "main acquired again"});
}

TEST_CASE("Semaphore: a cancelled waiter takes no permit, one cancelled after it was handed a permit passes it on",
          "[semaphore][cancel]") {
    aio::Semaphore sem(2);
    Log log;
    auto worker = [&](std::string name) -> aio::Task<> {
        auto permit = co_await sem.scoped();
        log.push_back(name + " in");
        co_await aio::sleep(1ms);
    };
    std::string b_outcome, c_outcome, d_outcome;
    bool permits_restored = false;
    auto body = [&]() -> aio::Task<> {
        co_await sem.acquire();
        co_await sem.acquire(); // both permits held by main
        auto b = aio::create_task(worker("b"));
        auto c = aio::create_task(worker("c"));
        auto d = aio::create_task(worker("d"));
        co_await run_turns();
        b.cancel(); // while waiting
        b_outcome = co_await outcome_of(b);
        sem.release(); // handed to c ...
        c.cancel();    // ... cancelled before it runs: d gets the permit
        c_outcome = co_await outcome_of(c);
        d_outcome = co_await outcome_of(d);
        sem.release();
        permits_restored = co_await takes_at_once(sem, 2);
    };
    sync_test::run(body());
    REQUIRE(b_outcome == "CancelledError");
    REQUIRE(c_outcome == "CancelledError");
    REQUIRE(d_outcome == "ok");
    REQUIRE(log == Log{"d in"});
    REQUIRE(permits_restored);
}

TEST_CASE("BoundedSemaphore: releasing more than acquired throws ValueError, Semaphore allows it",
          "[semaphore]") {
    aio::BoundedSemaphore bounded(2);
    REQUIRE_THROWS_AS(bounded.release(), aio::ValueError);
    aio::Semaphore plain(2);
    plain.release(); // a plain semaphore just grows
    bool plain_has_three = false;
    std::string message;
    auto body = [&]() -> aio::Task<> {
        co_await bounded.acquire();
        co_await bounded.acquire();
        bounded.release();
        bounded.release();
        try {
            bounded.release();
        } catch (const aio::ValueError& e) {
            message = e.what();
        }
        aio::Semaphore& as_base = bounded; // the bound holds through the base class too
        try {
            as_base.release();
            message += " / no error through the base";
        } catch (const aio::ValueError&) {
        }
        plain_has_three = co_await takes_at_once(plain, 3);
    };
    sync_test::run(body());
    REQUIRE_THAT(message, Catch::Contains("released too many times"));
    REQUIRE_THAT(message, !Catch::Contains("no error through the base"));
    REQUIRE(plain_has_three);
}

TEST_CASE("BoundedSemaphore: a release that hands the permit to a waiter is within the bound", "[semaphore]") {
    aio::BoundedSemaphore sem(1);
    Log log;
    auto waiter = [&]() -> aio::Task<> {
        co_await sem.acquire();
        log.push_back("waiter in");
        sem.release();
    };
    auto body = [&]() -> aio::Task<> {
        co_await sem.acquire();
        auto w = aio::create_task(waiter());
        co_await run_turns();
        sem.release();
        co_await w;
    };
    sync_test::run(body());
    REQUIRE(log == Log{"waiter in"});
    REQUIRE_THROWS_AS(sem.release(), aio::ValueError);
}

TEST_CASE("Semaphore: random cancellations never exceed n and lose no permit", "[semaphore][stress]") {
    for (unsigned seed = 1; seed <= 40; ++seed) {
        INFO("seed " << seed);
        constexpr int n = 3;
        aio::BoundedSemaphore sem(n); // over-release would throw
        Concurrency inside;
        std::mt19937 rng(seed);
        auto pick = [&](int k) { return static_cast<int>(rng() % static_cast<unsigned>(k)); };
        auto worker = [&](int hold_ms) -> aio::Task<> {
            auto permit = co_await sem.scoped();
            inside.enter();
            try {
                co_await aio::sleep(std::chrono::milliseconds(hold_ms));
            } catch (const aio::CancelledError&) {
                inside.leave();
                throw;
            }
            inside.leave();
        };
        bool restored = false;
        auto body = [&]() -> aio::Task<> {
            std::vector<aio::Task<>> tasks;
            for (int i = 0; i < 80; ++i) {
                tasks.push_back(aio::create_task(worker(pick(4))));
                if (pick(3) == 0) tasks[static_cast<std::size_t>(pick(static_cast<int>(tasks.size())))].cancel();
                if (pick(2) == 0) co_await aio::sleep(std::chrono::milliseconds(pick(2)));
            }
            for (auto& t : tasks) {
                const std::string outcome = co_await outcome_of(t);
                REQUIRE((outcome == "ok" || outcome == "CancelledError"));
            }
            restored = co_await takes_at_once(sem, n);
        };
        sync_test::run(body());
        REQUIRE(inside.most <= n);
        REQUIRE(inside.now == 0);
        REQUIRE(restored);
    }
}

TEST_CASE("Semaphore: waiting on it from a task of another loop throws RuntimeError", "[semaphore][loop]") {
    aio::Semaphore sem(0);
    aio::EventLoop first(sync_test::virtual_loop());
    auto waiter = [&]() -> aio::Task<> { co_await sem.acquire(); };
    aio::Task<> pending;
    auto bind_to_first = [&]() -> aio::Task<> {
        pending = aio::create_task(waiter());
        co_await run_turns();
    };
    first.run_until_complete(bind_to_first());
    std::string outcome;
    auto acquire_it = [&]() -> aio::Task<> { co_await sem.acquire(); };
    auto from_second = [&]() -> aio::Task<> { outcome = co_await outcome_of(acquire_it()); };
    sync_test::run(from_second());
    REQUIRE_THAT(outcome, Catch::Contains("aio::Semaphore") && Catch::Contains("different event loop"));
    pending.cancel();
    REQUIRE(first.run_until_complete(outcome_of(pending)) == "CancelledError");
}

TEST_CASE("Semaphore: aio::wait_for(sem.acquire(), timeout) times out without taking a permit", "[semaphore][cancel]") {
    aio::Semaphore sem(1);
    Log log;
    bool restored = false;
    auto body = [&]() -> aio::Task<> {
        co_await sem.acquire();
        try {
            co_await aio::wait_for(sem.acquire(), 10ms);
            log.push_back("acquired");
        } catch (const aio::TimeoutError&) {
            log.push_back("timeout");
        }
        sem.release();
        restored = co_await takes_at_once(sem, 1);
    };
    sync_test::run(body());
    REQUIRE(log == Log{"timeout"});
    REQUIRE(restored);
}
