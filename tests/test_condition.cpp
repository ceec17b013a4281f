// Tests for aio::Condition (include/aio/condition.hpp).
#include <aio/condition.hpp>
#include <aio/aio.hpp>

#include "catch.hpp"
#include "sync_util.hpp"

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using sync_test::Log;
using sync_test::outcome_of;
using sync_test::run_turns;

TEST_CASE("Condition: notified waiters return holding the lock, one at a time (CPython test_wait)", "[condition]") {
    aio::Condition cond;
    Log log;
    auto waiter = [&](std::string name) -> aio::Task<> {
        co_await cond.acquire();
        co_await cond.wait();
        log.push_back(name); // returns holding the lock, and keeps it
    };
    std::vector<std::string> states;
    auto snapshot = [&] { states.push_back(std::to_string(log.size()) + (cond.locked() ? " locked" : " free")); };
    auto body = [&]() -> aio::Task<> {
        auto t1 = aio::create_task(waiter("1"));
        auto t2 = aio::create_task(waiter("2"));
        auto t3 = aio::create_task(waiter("3"));
        co_await run_turns();
        snapshot(); // 0 free: every waiter released the lock in wait()

        co_await cond.acquire();
        cond.notify();
        co_await run_turns();
        snapshot(); // 0 locked: 1 is notified but main holds the lock
        cond.release();
        co_await run_turns();
        snapshot(); // 1 locked: 1 returned and holds the lock

        cond.notify(2);
        co_await run_turns();
        snapshot(); // 1 locked
        cond.release(); // 1's hold: 2 gets the lock
        co_await run_turns();
        snapshot(); // 2 locked
        cond.release(); // 2's hold: 3 gets it
        co_await run_turns();
        snapshot(); // 3 locked
        cond.release();
        co_await t1;
        co_await t2;
        co_await t3;
    };
    sync_test::run(body());
    REQUIRE(log == Log{"1", "2", "3"});
    REQUIRE(states == std::vector<std::string>{"0 free", "0 locked", "1 locked", "1 locked", "2 locked", "3 locked"});
    REQUIRE_FALSE(cond.locked());
}

TEST_CASE("Condition: notify(n) wakes exactly n waiters, oldest first, notify_all wakes the rest", "[condition]") {
    aio::Condition cond;
    Log log;
    auto waiter = [&](std::string name) -> aio::Task<> {
        auto guard = co_await cond.scoped();
        co_await cond.wait();
        log.push_back(name);
    };
    std::vector<std::size_t> woken;
    auto body = [&]() -> aio::Task<> {
        std::vector<aio::Task<>> tasks;
        for (const char* name : {"a", "b", "c", "d", "e"}) tasks.push_back(aio::create_task(waiter(name)));
        co_await run_turns();
        for (std::size_t n : {2, 0, 1}) {
            {
                auto guard = co_await cond.scoped();
                cond.notify(n);
            }
            co_await run_turns(3);
            woken.push_back(log.size());
        }
        {
            auto guard = co_await cond.scoped();
            cond.notify_all();
        }
        for (auto& t : tasks) co_await t;
        woken.push_back(log.size());
        auto guard = co_await cond.scoped();
        cond.notify_all(); // nobody waits: nothing happens
    };
    sync_test::run(body());
    REQUIRE(woken == std::vector<std::size_t>{2, 2, 3, 5});
    REQUIRE(log == Log{"a", "b", "c", "d", "e"});
}

TEST_CASE("Condition: wait() and notify() without holding the lock throw RuntimeError", "[condition]") {
    aio::Condition cond;
    REQUIRE_THROWS_AS(cond.notify(), aio::RuntimeError);
    REQUIRE_THROWS_AS(cond.notify_all(), aio::RuntimeError);
    REQUIRE_THROWS_AS(cond.release(), aio::RuntimeError);
    std::string wait_outcome, wait_for_false, notify_message;
    std::optional<int> wait_for_true;
    auto wait_it = [&]() -> aio::Task<> { co_await cond.wait(); };
    auto wait_false = [&]() -> aio::Task<> { co_await cond.wait_for([] { return false; }); };
    auto body = [&]() -> aio::Task<> {
        wait_outcome = co_await outcome_of(wait_it());
        // As asyncio: a predicate that is already true needs no lock.
        wait_for_true = co_await cond.wait_for([] { return std::optional<int>(7); });
        wait_for_false = co_await outcome_of(wait_false());
        try {
            cond.notify();
        } catch (const aio::RuntimeError& e) {
            notify_message = e.what();
        }
    };
    sync_test::run(body());
    REQUIRE_THAT(wait_outcome, Catch::StartsWith("RuntimeError") && Catch::Contains("lock"));
    REQUIRE(wait_for_true == std::optional<int>(7));
    REQUIRE_THAT(wait_for_false, Catch::StartsWith("RuntimeError"));
    REQUIRE_THAT(notify_message, Catch::Contains("without holding"));
    REQUIRE_FALSE(cond.locked());
}

TEST_CASE("Condition: wait_for(pred) re-waits until the predicate holds and returns its value", "[condition]") {
    aio::Condition cond;
    int value = 0;
    int evaluations = 0;
    Log log;
    auto waiter = [&]() -> aio::Task<int> {
        auto guard = co_await cond.scoped();
        const int seen = co_await cond.wait_for([&] {
            ++evaluations;
            log.push_back(cond.locked() ? "pred with lock" : "pred without lock");
            return value >= 3 ? value : 0;
        });
        co_return seen;
    };
    int result = 0;
    auto body = [&]() -> aio::Task<> {
        auto w = aio::create_task(waiter());
        co_await run_turns();
        for (int v = 1; v <= 4; ++v) {
            auto guard = co_await cond.scoped();
            value = v;
            cond.notify();
            log.push_back("set " + std::to_string(v));
        }
        result = co_await w;
    };
    sync_test::run(body());
    // Each notify() hands the lock to the waiter when main releases it, so main's next
    // scoped() queues behind the waiter's predicate check.
    REQUIRE(result == 3);
    REQUIRE(evaluations == 4);
    REQUIRE(log == Log{"pred with lock", "set 1", "pred with lock", "set 2", "pred with lock", "set 3",
                       "pred with lock", "set 4"});
}

TEST_CASE("Condition: wait_for with an already true predicate does not suspend", "[condition]") {
    aio::Condition cond;
    Log log;
    auto other = [&]() -> aio::Task<> {
        log.push_back("other ran");
        co_return;
    };
    auto body = [&]() -> aio::Task<> {
        auto guard = co_await cond.scoped();
        aio::create_task(other());
        const bool ok = co_await cond.wait_for([] { return true; });
        log.push_back(ok ? "wait_for returned true" : "wait_for returned false");
        co_await run_turns();
    };
    sync_test::run(body());
    REQUIRE(log == Log{"wait_for returned true", "other ran"});
}

TEST_CASE("Condition: a cancelled wait re-acquires the lock before CancelledError leaves it", "[condition][cancel]") {
    aio::Condition cond;
    Log log;
    auto waiter = [&]() -> aio::Task<> {
        co_await cond.acquire();
        try {
            co_await cond.wait();
            log.push_back("notified");
        } catch (const aio::CancelledError& e) {
            log.push_back(std::string("cancelled, lock ") + (cond.locked() ? "held" : "free") + ": " + e.message());
        }
        cond.release();
    };
    bool done_while_main_held = true;
    auto body = [&]() -> aio::Task<> {
        auto w = aio::create_task(waiter());
        co_await run_turns();
        co_await cond.acquire(); // main holds the lock while the waiter is cancelled
        w.cancel("stop");
        co_await run_turns(3);
        done_while_main_held = w.done();
        log.push_back("main releases");
        cond.release();
        co_await w;
    };
    sync_test::run(body());
    REQUIRE_FALSE(done_while_main_held); // it had to wait for the lock
    REQUIRE(log == Log{"main releases", "cancelled, lock held: stop"});
    REQUIRE_FALSE(cond.locked());
}

TEST_CASE("Condition: a wait cancelled while the lock is free gets it back at once", "[condition][cancel]") {
    aio::Condition cond;
    Log log;
    auto waiter = [&]() -> aio::Task<> {
        co_await cond.acquire();
        try {
            co_await cond.wait();
        } catch (const aio::CancelledError&) {
            log.push_back(cond.locked() ? "cancelled holding the lock" : "cancelled without the lock");
        }
        cond.release();
    };
    auto body = [&]() -> aio::Task<> {
        auto w = aio::create_task(waiter());
        co_await run_turns();
        w.cancel();
        co_await w;
    };
    sync_test::run(body());
    REQUIRE(log == Log{"cancelled holding the lock"});
    REQUIRE_FALSE(cond.locked());
}

TEST_CASE("Condition: a waiter cancelled after notify() passes the notification on", "[condition][cancel]") {
    aio::Condition cond;
    Log log;
    auto waiter = [&](std::string name) -> aio::Task<> {
        auto guard = co_await cond.scoped();
        try {
            co_await cond.wait();
            log.push_back(name + " notified");
        } catch (const aio::CancelledError&) {
            log.push_back(name + " cancelled");
            throw;
        }
    };
    std::string a_outcome;
    auto body = [&]() -> aio::Task<> {
        auto a = aio::create_task(waiter("a"));
        auto b = aio::create_task(waiter("b"));
        auto c = aio::create_task(waiter("c"));
        co_await run_turns();
        {
            auto guard = co_await cond.scoped();
            cond.notify(1); // a is notified, then cancelled before it has the lock back
            a.cancel();
        }
        a_outcome = co_await outcome_of(a);
        co_await b; // got a's notification
        co_await run_turns(3);
        REQUIRE_FALSE(c.done()); // exactly one notification was passed on
        c.cancel();
        co_await outcome_of(c);
    };
    sync_test::run(body());
    REQUIRE(a_outcome == "CancelledError");
    REQUIRE(log == Log{"a cancelled", "b notified", "c cancelled"});
    REQUIRE_FALSE(cond.locked());
}

TEST_CASE("Condition: a cancellation pending when wait() starts keeps the lock and raises", "[condition][cancel]") {
    aio::Condition cond;
    Log log;
    auto body = [&]() -> aio::Task<> {
        co_await cond.acquire();
        aio::current_task().cancel();
        try {
            co_await cond.wait();
        } catch (const aio::CancelledError&) {
            log.push_back(cond.locked() ? "cancelled, lock held" : "cancelled, lock free");
        }
        cond.release();
    };
    sync_test::run(body());
    REQUIRE(log == Log{"cancelled, lock held"});
}

TEST_CASE("Condition: two conditions can share one Lock", "[condition]") {
    aio::Lock lock;
    aio::Condition not_empty(lock), not_full(lock);
    std::deque<int> buffer;
    Log log;
    constexpr std::size_t capacity = 2;
    auto producer = [&]() -> aio::Task<> {
        for (int i = 0; i < 5; ++i) {
            auto guard = co_await lock.scoped();
            co_await not_full.wait_for([&] { return buffer.size() < capacity; });
            buffer.push_back(i);
            log.push_back("put " + std::to_string(i));
            not_empty.notify();
        }
    };
    auto consumer = [&]() -> aio::Task<> {
        for (int i = 0; i < 5; ++i) {
            auto guard = co_await not_empty.scoped(); // the same lock
            co_await not_empty.wait_for([&] { return !buffer.empty(); });
            log.push_back("got " + std::to_string(buffer.front()));
            buffer.pop_front();
            not_full.notify();
            REQUIRE(lock.locked());
        }
    };
    auto body = [&]() -> aio::Task<> {
        auto c = aio::create_task(consumer());
        auto p = aio::create_task(producer());
        co_await p;
        co_await c;
    };
    sync_test::run(body());
    REQUIRE(log.size() == 10);
    int put = 0, got = 0;
    for (const auto& line : log) {
        if (line.rfind("put", 0) == 0) REQUIRE(line == "put " + std::to_string(put++));
        else
            REQUIRE(line == "got " + std::to_string(got++));
        REQUIRE(put - got >= 0);
        REQUIRE(put - got <= static_cast<int>(capacity));
    }
    REQUIRE_FALSE(lock.locked());
}

TEST_CASE("Condition: random cancellations lose no notification (consumers with wait_for)", "[condition][stress]") {
    for (unsigned seed = 1; seed <= 30; ++seed) {
        INFO("seed " << seed);
        aio::Condition cond;
        std::deque<int> items;
        std::vector<int> consumed;
        std::mt19937 rng(seed);
        auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
        constexpr int total = 80;
        auto consumer = [&]() -> aio::Task<> {
            for (;;) {
                auto guard = co_await cond.scoped();
                co_await cond.wait_for([&] { return !items.empty(); });
                consumed.push_back(items.front());
                items.pop_front();
            }
        };
        bool all_consumed = false;
        auto body = [&]() -> aio::Task<> {
            std::vector<aio::Task<>> consumers;
            for (int i = 0; i < 3; ++i) consumers.push_back(aio::create_task(consumer()));
            for (int i = 0; i < total; ++i) {
                {
                    auto guard = co_await cond.scoped();
                    items.push_back(i);
                    cond.notify(1);
                }
                if (pick(3) == 0) { // cancel a consumer, maybe right after it was notified
                    auto victim = static_cast<std::size_t>(pick(static_cast<int>(consumers.size())));
                    consumers[victim].cancel();
                    consumers[victim] = aio::create_task(consumer());
                }
                if (pick(2) == 0) co_await aio::sleep(std::chrono::milliseconds(pick(2)));
            }
            for (int i = 0; i < 100 && consumed.size() < static_cast<std::size_t>(total); ++i)
                co_await aio::sleep(1s);
            all_consumed = items.empty() && consumed.size() == static_cast<std::size_t>(total);
            for (auto& c : consumers) c.cancel();
            for (auto& c : consumers) co_await outcome_of(c);
        };
        sync_test::run(body());
        REQUIRE(all_consumed);
        for (int i = 0; i < total; ++i) REQUIRE(consumed[static_cast<std::size_t>(i)] == i);
        REQUIRE_FALSE(cond.locked());
    }
}

TEST_CASE("Condition: destroyed while tasks wait, the waiters can still be cancelled", "[condition][lifetime]") {
    auto cond = std::make_unique<aio::Condition>();
    std::string outcome;
    auto waiter = [&]() -> aio::Task<> {
        co_await cond->acquire();
        co_await cond->wait();
    };
    auto body = [&]() -> aio::Task<> {
        auto w = aio::create_task(waiter());
        co_await run_turns();
        cond.reset();
        w.cancel();
        outcome = co_await outcome_of(w);
    };
    sync_test::run(body());
    REQUIRE(outcome == "CancelledError");
}

TEST_CASE("Condition: waiting on it from a task of another loop throws RuntimeError", "[condition][loop]") {
    aio::Condition cond;
    aio::EventLoop first(sync_test::virtual_loop());
    auto waiter = [&]() -> aio::Task<> {
        auto guard = co_await cond.scoped();
        co_await cond.wait();
    };
    aio::Task<> pending;
    auto bind_to_first = [&]() -> aio::Task<> {
        pending = aio::create_task(waiter());
        co_await run_turns();
    };
    first.run_until_complete(bind_to_first());

    std::string outcome;
    auto wait_it = [&]() -> aio::Task<> {
        auto guard = co_await cond.scoped();
        co_await cond.wait();
    };
    auto from_second = [&]() -> aio::Task<> { outcome = co_await outcome_of(wait_it()); };
    sync_test::run(from_second());
    REQUIRE_THAT(outcome, Catch::Contains("different event loop"));
    REQUIRE_FALSE(cond.locked()); // the guard released it

    pending.cancel();
    REQUIRE(first.run_until_complete(outcome_of(pending)) == "CancelledError");
}

TEST_CASE("Condition: aio::wait_for(cond.wait(), timeout) times out holding the lock again", "[condition][cancel]") {
    aio::Condition cond;
    Log log;
    auto body = [&]() -> aio::Task<> {
        auto guard = co_await cond.scoped();
        try {
            co_await aio::wait_for(cond.wait(), 10ms);
            log.push_back("notified");
        } catch (const aio::TimeoutError&) {
            log.push_back(cond.locked() ? "timeout, lock held" : "timeout, lock free");
        }
        try {
            const bool ok = co_await aio::wait_for(cond.wait_for([] { return false; }), 10ms);
            log.push_back(ok ? "true" : "false");
        } catch (const aio::TimeoutError&) {
            log.push_back(cond.locked() ? "timeout, lock held" : "timeout, lock free");
        }
    };
    sync_test::run(body());
    REQUIRE(log == Log{"timeout, lock held", "timeout, lock held"});
    REQUIRE_FALSE(cond.locked());
}
