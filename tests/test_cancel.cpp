// Tests for cancellation: Task::cancel, CancelledError, cancelling/uncancel.
#include <aio/errors.hpp>
#include <aio/task.hpp>
#include <aio/aio.hpp>

#include "catch.hpp"
#include "counted.hpp"

#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

using namespace std::chrono_literals;
using aio_test::Counted;
using Log = std::vector<std::string>;

namespace {

aio::LoopOptions virtual_time() {
    aio::LoopOptions o;
    o.virtual_time = true;
    return o;
}

// Sleeps for d, recording whether it was cancelled; rethrows the cancellation.
aio::Task<int> sleeper(Log& log, std::string name, aio::Clock::duration d, Counted = {}) {
    try {
        co_await aio::sleep(d);
    } catch (const aio::CancelledError& e) {
        log.push_back(name + " cancelled: " + e.message());
        throw;
    }
    log.push_back(name + " woke");
    co_return 1;
}

struct CancelOutcome {
    bool threw = false;
    std::string message;
};

template <class T>
aio::Task<CancelOutcome> await_expecting_cancel(aio::Task<T> t) {
    CancelOutcome out;
    try {
        co_await t;
    } catch (const aio::CancelledError& e) {
        out.threw = true;
        out.message = e.message();
    }
    co_return out;
}

} // namespace

TEST_CASE("CancelledError does not derive from std::exception", "[cancel][errors]") {
    static_assert(!std::is_base_of_v<std::exception, aio::CancelledError>);
    SUCCEED();
}

TEST_CASE("cancel(msg) while sleeping: the awaiter gets CancelledError with msg and cancelled() is true",
          "[cancel]") {
    aio::EventLoop loop(virtual_time());
    Log log;
    aio::Task<int> t;
    CancelOutcome outcome;
    bool cancel_returned = false;
    aio::Clock::duration elapsed{};
    auto body = [&]() -> aio::Task<> {
        auto t0 = loop.time();
        t = aio::create_task(sleeper(log, "sleeper", 1h));
        co_await aio::sleep(1ms);  // the sleeper is now sleeping
        cancel_returned = t.cancel("stop it");
        REQUIRE_FALSE(t.done());  // delivered on a later turn
        outcome = co_await await_expecting_cancel(t);
        elapsed = loop.time() - t0;
    };
    loop.run_until_complete(body());
    REQUIRE(cancel_returned);
    REQUIRE(outcome.threw);
    REQUIRE(outcome.message == "stop it");
    REQUIRE(log == Log{"sleeper cancelled: stop it"});
    REQUIRE(t.done());
    REQUIRE(t.cancelled());
    REQUIRE(elapsed < 1h);
    REQUIRE_THROWS_AS(t.result(), aio::CancelledError);
}

TEST_CASE("cancel() without a message gives an empty message()", "[cancel]") {
    aio::EventLoop loop(virtual_time());
    Log log;
    auto body = [&]() -> aio::Task<CancelOutcome> {
        auto t = aio::create_task(sleeper(log, "s", 1h));
        co_await aio::sleep(1ms);
        t.cancel();
        co_return co_await await_expecting_cancel(t);
    };
    auto outcome = loop.run_until_complete(body());
    REQUIRE(outcome.threw);
    REQUIRE(outcome.message.empty());
}

TEST_CASE("a task that catches CancelledError and returns normally is not cancelled", "[cancel]") {
    aio::EventLoop loop(virtual_time());
    aio::Task<int> t;
    std::string seen;
    auto stubborn = [&]() -> aio::Task<int> {
        try {
            co_await aio::sleep(1h);
        } catch (const aio::CancelledError& e) {
            seen = e.message();
            co_return -1;
        }
        co_return 1;
    };
    auto body = [&]() -> aio::Task<int> {
        t = aio::create_task(stubborn());
        co_await aio::sleep(1ms);
        REQUIRE(t.cancel("please stop"));
        co_return co_await t;
    };
    REQUIRE(loop.run_until_complete(body()) == -1);
    REQUIRE(seen == "please stop");
    REQUIRE(t.done());
    REQUIRE_FALSE(t.cancelled());
    REQUIRE(t.result() == -1);
    REQUIRE(t.exception() == nullptr);
}

TEST_CASE("CancelledError is not caught by catch (const std::exception&)", "[cancel]") {
    aio::EventLoop loop(virtual_time());
    Log log;
    auto careless = [&]() -> aio::Task<> {
        try {
            co_await aio::sleep(1h);
        } catch (const std::exception&) {
            log.push_back("swallowed by std::exception handler");
        }
        log.push_back("continued");
    };
    auto body = [&]() -> aio::Task<CancelOutcome> {
        auto t = aio::create_task(careless());
        co_await aio::sleep(1ms);
        t.cancel("go");
        auto out = co_await await_expecting_cancel(t);
        REQUIRE(t.cancelled());
        co_return out;
    };
    auto outcome = loop.run_until_complete(body());
    REQUIRE(outcome.threw);
    REQUIRE(outcome.message == "go");
    REQUIRE(log.empty());
}

TEST_CASE("cancel reaches an inner task awaited by the cancelled task", "[cancel]") {
    aio::EventLoop loop(virtual_time());
    Log log;
    aio::Task<int> inner;
    aio::Task<> outer;
    aio::Clock::duration elapsed{};
    CancelOutcome outer_outcome, inner_outcome;
    auto outer_body = [&]() -> aio::Task<> {
        inner = aio::create_task(sleeper(log, "inner", 1h));
        co_await inner;
        log.push_back("outer after inner");
    };
    auto body = [&]() -> aio::Task<> {
        outer = aio::create_task(outer_body());
        co_await aio::sleep(1ms);  // outer awaits inner, inner sleeps
        auto t0 = loop.time();
        REQUIRE(outer.cancel("from main"));
        outer_outcome = co_await await_expecting_cancel(outer);
        inner_outcome = co_await await_expecting_cancel(inner);
        elapsed = loop.time() - t0;
    };
    loop.run_until_complete(body());
    REQUIRE(outer_outcome.threw);
    REQUIRE(inner_outcome.threw);
    REQUIRE(outer.cancelled());
    REQUIRE(inner.cancelled());
    REQUIRE(log.size() == 1);
    REQUIRE_THAT(log[0], Catch::StartsWith("inner cancelled"));
    REQUIRE(elapsed < 1h);  // the inner's timer did not keep the loop waiting
}

TEST_CASE("cancel reaches the sleep of a lazily awaited inner coroutine", "[cancel]") {
    aio::EventLoop loop(virtual_time());
    Log log;
    aio::Clock::duration elapsed{};
    aio::Task<int> t;
    CancelOutcome outcome;
    auto middle = [&]() -> aio::Task<int> {
        int v = co_await sleeper(log, "leaf", 1h);
        log.push_back("middle after leaf");
        co_return v;
    };
    auto top = [&]() -> aio::Task<int> {
        int v = co_await middle();
        log.push_back("top after middle");
        co_return v;
    };
    auto body = [&]() -> aio::Task<> {
        auto t0 = loop.time();
        t = aio::create_task(top());
        co_await aio::sleep(1ms);
        t.cancel("deep");
        outcome = co_await await_expecting_cancel(t);
        elapsed = loop.time() - t0;
    };
    loop.run_until_complete(body());
    REQUIRE(outcome.threw);
    REQUIRE(outcome.message == "deep");
    REQUIRE(log == Log{"leaf cancelled: deep"});
    REQUIRE(t.cancelled());
    REQUIRE(elapsed < 1h);
}

TEST_CASE("cancel before the task starts: its body never runs", "[cancel]") {
    aio_test::CountedBaseline baseline;
    aio::EventLoop loop(virtual_time());
    bool ran = false;
    aio::Task<> t;
    CancelOutcome outcome;
    auto never = [&](Counted) -> aio::Task<> {
        ran = true;
        co_return;
    };
    auto body = [&]() -> aio::Task<> {
        t = aio::create_task(never(Counted{}));
        REQUIRE(t.cancel("too early"));
        outcome = co_await await_expecting_cancel(t);
    };
    loop.run_until_complete(body());
    REQUIRE_FALSE(ran);
    REQUIRE(outcome.threw);
    REQUIRE(outcome.message == "too early");
    REQUIRE(t.cancelled());
    t = {};
    REQUIRE(baseline.leaked() == 0);
}

TEST_CASE("cancel while the task is ready but not running is delivered at its suspension point",
          "[cancel]") {
    aio::EventLoop loop;
    Log log;
    CancelOutcome outcome;
    auto yielder = [&]() -> aio::Task<> {
        log.push_back("x started");
        co_await aio::sleep(0s);
        log.push_back("x resumed");
    };
    auto body = [&]() -> aio::Task<> {
        auto x = aio::create_task(yielder());
        co_await aio::sleep(0s);  // x runs its first step and re-queues itself behind us
        REQUIRE_FALSE(x.done());
        x.cancel("queued");
        outcome = co_await await_expecting_cancel(x);
    };
    loop.run_until_complete(body());
    REQUIRE(log == Log{"x started"});
    REQUIRE(outcome.threw);
    REQUIRE(outcome.message == "queued");
}

TEST_CASE("a task that cancels itself gets CancelledError at its next suspension point", "[cancel]") {
    aio::EventLoop loop;
    Log log;
    auto self_cancel = [&]() -> aio::Task<> {
        aio::current_task().cancel("self");
        log.push_back("still running after cancel()");
        co_await aio::sleep(0s);
        log.push_back("unreachable");
    };
    auto body = [&]() -> aio::Task<CancelOutcome> {
        auto t = aio::create_task(self_cancel());
        co_return co_await await_expecting_cancel(t);
    };
    auto outcome = loop.run_until_complete(body());
    REQUIRE(log == Log{"still running after cancel()"});
    REQUIRE(outcome.threw);
    REQUIRE(outcome.message == "self");
}

TEST_CASE("cancel after done returns false and changes nothing", "[cancel]") {
    aio::EventLoop loop(virtual_time());
    aio::Task<int> t;
    auto quick = []() -> aio::Task<int> { co_return 3; };
    auto body = [&]() -> aio::Task<> {
        t = aio::create_task(quick());
        co_await t;
    };
    loop.run_until_complete(body());
    REQUIRE(t.done());
    REQUIRE_FALSE(t.cancel("too late"));
    REQUIRE_FALSE(t.cancelled());
    REQUIRE(t.cancelling() == 0);
    REQUIRE(t.result() == 3);
}

TEST_CASE("cancel() of a cancelled task returns false", "[cancel]") {
    aio::EventLoop loop(virtual_time());
    Log log;
    aio::Task<int> t;
    auto body = [&]() -> aio::Task<> {
        t = aio::create_task(sleeper(log, "s", 1h));
        co_await aio::sleep(1ms);
        t.cancel();
        (void)co_await await_expecting_cancel(t);
    };
    loop.run_until_complete(body());
    REQUIRE(t.cancelled());
    REQUIRE_FALSE(t.cancel());
}

TEST_CASE("cancelling() counts cancel requests", "[cancel]") {
    aio::EventLoop loop(virtual_time());
    Log log;
    aio::Task<int> t;
    std::vector<int> counts;
    CancelOutcome outcome;
    auto body = [&]() -> aio::Task<> {
        t = aio::create_task(sleeper(log, "s", 1h));
        co_await aio::sleep(1ms);
        counts.push_back(t.cancelling());
        REQUIRE(t.cancel("one"));
        counts.push_back(t.cancelling());
        REQUIRE(t.cancel("two"));
        counts.push_back(t.cancelling());
        outcome = co_await await_expecting_cancel(t);
    };
    loop.run_until_complete(body());
    REQUIRE(counts == std::vector<int>{0, 1, 2});
    REQUIRE(outcome.threw);
    REQUIRE(t.cancelled());
    REQUIRE(log.size() == 1);  // delivered once
}

TEST_CASE("uncancel() decrements cancelling(), a task that uncancels and returns is not cancelled",
          "[cancel]") {
    aio::EventLoop loop(virtual_time());
    aio::Task<int> t;
    int cancelling_inside = -1, after_uncancel = -1;
    Log log;
    auto resilient = [&]() -> aio::Task<int> {
        try {
            co_await aio::sleep(1h);
        } catch (const aio::CancelledError&) {
            cancelling_inside = t.cancelling();
            after_uncancel = t.uncancel();
        }
        co_await aio::sleep(1ms);  // it goes on awaiting after the uncancel
        log.push_back("finished normally");
        co_return 7;
    };
    auto body = [&]() -> aio::Task<int> {
        t = aio::create_task(resilient());
        co_await aio::sleep(1ms);
        t.cancel();
        co_return co_await t;
    };
    REQUIRE(loop.run_until_complete(body()) == 7);
    REQUIRE(cancelling_inside == 1);
    REQUIRE(after_uncancel == 0);
    REQUIRE(log == Log{"finished normally"});
    REQUIRE(t.cancelling() == 0);
    REQUIRE_FALSE(t.cancelled());
}

TEST_CASE("awaiting a cancelled task throws CancelledError in every awaiter", "[cancel]") {
    aio::EventLoop loop(virtual_time());
    Log log;
    std::vector<CancelOutcome> outcomes;
    auto body = [&]() -> aio::Task<> {
        auto t = aio::create_task(sleeper(log, "s", 1h));
        auto w1 = aio::create_task(await_expecting_cancel(t));
        auto w2 = aio::create_task(await_expecting_cancel(t));
        co_await aio::sleep(1ms);
        t.cancel("everyone");
        outcomes.push_back(co_await w1);
        outcomes.push_back(co_await w2);
        outcomes.push_back(co_await await_expecting_cancel(t));  // already cancelled
        REQUIRE_FALSE(w1.cancelled());
        REQUIRE_FALSE(w2.cancelled());
    };
    loop.run_until_complete(body());
    REQUIRE(outcomes.size() == 3);
    for (auto& o : outcomes) {
        REQUIRE(o.threw);
        REQUIRE(o.message == "everyone");
    }
}

TEST_CASE("a CancelledError escaping a task makes it cancelled, run_until_complete rethrows it",
          "[cancel]") {
    aio::EventLoop loop(virtual_time());
    auto body = [&]() -> aio::Task<int> {
        aio::current_task().cancel("main cancelled");
        co_await aio::sleep(1h);
        co_return 0;
    };
    REQUIRE_THROWS_AS(loop.run_until_complete(body()), aio::CancelledError);
    bool caught = false;
    std::string message;
    try {
        loop.run_until_complete(body());
    } catch (const aio::CancelledError& e) {
        caught = true;
        message = e.message();
    }
    REQUIRE(caught);
    REQUIRE(message == "main cancelled");
}

TEST_CASE("cancelling a task frees its frames", "[cancel][lifetime]") {
    aio_test::CountedBaseline baseline;
    {
        aio::EventLoop loop(virtual_time());
        Log log;
        auto body = [&]() -> aio::Task<> {
            std::vector<aio::Task<int>> ts;
            for (int i = 0; i < 10; ++i) ts.push_back(aio::create_task(sleeper(log, "s", 1h, Counted{})));
            co_await aio::sleep(1ms);
            for (auto& t : ts) t.cancel();
            for (auto& t : ts) (void)co_await await_expecting_cancel(t);
        };
        loop.run_until_complete(body());
        REQUIRE(log.size() == 10);
        REQUIRE(baseline.leaked() == 0);
    }
    REQUIRE(baseline.leaked() == 0);
}

TEST_CASE("uncancel() after cancel() cannot revive a wait that cancellation already took apart", "[cancel]") {
    // asyncio: the future the task waited on is cancelled for good, so the task gets
    // CancelledError even if uncancel() brings cancelling() back to 0 before it runs.
    std::string outcome;
    aio::Clock::duration slept{};
    auto sleeper = [&]() -> aio::Task<> {
        auto& loop = aio::get_running_loop();
        const auto t0 = loop.time();
        try {
            co_await aio::sleep(1h);
            outcome = "woke normally";
        } catch (const aio::CancelledError&) {
            outcome = "cancelled";
        }
        slept = loop.time() - t0;
    };
    auto body = [&]() -> aio::Task<> {
        auto t = aio::create_task(sleeper());
        co_await aio::sleep(1ms);
        REQUIRE(t.cancel("x"));
        REQUIRE(t.uncancel() == 0);
        co_await t;
    };
    aio::run(body(), aio::RunOptions{.virtual_time = true});
    CHECK(outcome == "cancelled");
    CHECK(slept < 1h);
}
