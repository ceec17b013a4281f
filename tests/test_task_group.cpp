// Tests for aio::TaskGroup, after CPython's test_taskgroups.py: the first failure
// cancels the siblings, join() raises an ExceptionGroup with every child's exception (nested
// groups nest), an external cancel is propagated as a plain CancelledError after the children
// are done, create_task on a shutting-down or finished group is refused, children may add
// siblings, and the destructor cancels what is still running.
#include <aio/aio.hpp>

#include "test_util.hpp"
#include "catch.hpp"
#include "combinator_util.hpp"
#include "counted.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using aio_test::Counted;
using aio_test::failer;
using aio_test::Log;
using aio_test::outcome_of;
using aio_test::sleeper;
using aio_test::slow_to_cancel;

namespace {

std::vector<std::string> describe_all(const aio::ExceptionGroup& g) {
    std::vector<std::string> out;
    for (const auto& e : g.exceptions()) out.push_back(aio_test::describe(e));
    return out;
}

Log sorted(Log log) {
    std::sort(log.begin(), log.end());
    return log;
}

// join() gives a non-movable awaiter; outcome_of wants something it can hold.
aio::Task<> join(aio::TaskGroup& tg) { co_await tg.join(); }

} // namespace

TEST_CASE("TaskGroup: join waits for every child", "[task_group]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    long long took = -1;
    int sum = 0;
    std::size_t size_before = 0, size_after = 9;
    auto body = [&]() -> aio::Task<> {
        const auto t0 = loop.time();
        aio::TaskGroup tg;
        auto a = tg.create_task(sleeper(log, "a", 20ms, 1));
        auto b = tg.create_task(sleeper(log, "b", 10ms, 2), "bee");
        auto c = tg.create_task(sleeper(log, "c", 30ms, 3));
        size_before = tg.size();
        REQUIRE(b.get_name() == "bee");
        co_await tg.join();
        size_after = tg.size();
        took = aio_test::ms_since(t0);
        sum = a.result() + b.result() + c.result();
    };
    loop.run_until_complete(body());
    REQUIRE(log == Log{"b done", "a done", "c done"});
    REQUIRE(took == 30);
    REQUIRE(sum == 6);
    REQUIRE(size_before == 3);
    REQUIRE(size_after == 0);
}

TEST_CASE("TaskGroup: join on an empty group returns at once", "[task_group]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    bool joined = false;
    auto body = [&]() -> aio::Task<> {
        aio::TaskGroup tg;
        co_await tg.join();
        joined = true;
    };
    loop.run_until_complete(body());
    REQUIRE(joined);
}

TEST_CASE("TaskGroup: the first failure cancels the others, join raises ExceptionGroup", "[task_group]") {
    aio_test::CountedBaseline baseline;
    {
        aio::EventLoop loop(aio_test::virtual_loop());
        Log log;
        std::vector<std::string> errors;
        std::string message;
        long long took = -1;
        auto body = [&]() -> aio::Task<> {
            const auto t0 = loop.time();
            aio::TaskGroup tg;
            tg.create_task(sleeper(log, "a", 1h));
            tg.create_task(failer(log, "bad", 10ms, "bad failed"));
            tg.create_task(slow_to_cancel(log, "c", 1h, 5ms));
            tg.create_task(sleeper(log, "d", 1ms));
            try {
                co_await tg.join();
            } catch (const aio::ExceptionGroup& g) {
                errors = describe_all(g);
                message = g.what();
            }
            took = aio_test::ms_since(t0);
        };
        loop.run_until_complete(body());
        REQUIRE(errors == std::vector<std::string>{"error: bad failed"});
        REQUIRE_THAT(message, Catch::Contains("1 sub-exception"));
        REQUIRE(took == 15); // c's cleanup was waited for
        // The siblings are cancelled in the same turn, in no specified order (asyncio: a set).
        REQUIRE(log.size() == 5);
        REQUIRE(Log(log.begin(), log.begin() + 2) == Log{"d done", "bad raises"});
        REQUIRE(sorted(Log(log.begin() + 2, log.begin() + 4)) == Log{"a cancelled: ", "c cleanup start"});
        REQUIRE(log[4] == "c cleanup end");
    }
    REQUIRE(baseline.leaked() == 0);
}

TEST_CASE("TaskGroup: every child's exception is in the group, including one raised while cancelling",
          "[task_group]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::vector<std::string> errors;
    auto bad_cleanup = [&]() -> aio::Task<> {
        bool cancelled = false;
        try {
            co_await aio::sleep(1h);
        } catch (const aio::CancelledError&) {
            cancelled = true;
        }
        if (cancelled) throw std::logic_error("cleanup failed");
    };
    auto body = [&]() -> aio::Task<> {
        aio::TaskGroup tg;
        tg.create_task(bad_cleanup());
        tg.create_task(failer(log, "one", 10ms, "first"));
        // Due in the same loop turn as "one": already woken when "one" fails, so (as in asyncio)
        // the cancellation is delivered at its resumption and it never raises "second".
        tg.create_task(failer(log, "two", 10ms, "second"));
        try {
            co_await tg.join();
        } catch (const aio::ExceptionGroup& g) {
            errors = describe_all(g);
        }
    };
    loop.run_until_complete(body());
    REQUIRE(errors == std::vector<std::string>{"error: first", "error: cleanup failed"});
    REQUIRE(log == Log{"one raises", "two cancelled: "});
}

TEST_CASE("TaskGroup: a child's own ExceptionGroup nests", "[task_group]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::vector<std::string> outer_errors, inner_errors;
    auto inner_group = [&]() -> aio::Task<> {
        aio::TaskGroup inner;
        inner.create_task(failer(log, "deep", 5ms, "deep failure"));
        inner.create_task(sleeper(log, "sibling", 1h));
        co_await inner.join();
    };
    auto body = [&]() -> aio::Task<> {
        aio::TaskGroup tg;
        tg.create_task(inner_group());
        tg.create_task(failer(log, "shallow", 10ms, "shallow failure"));
        try {
            co_await tg.join();
        } catch (const aio::ExceptionGroup& g) {
            outer_errors = describe_all(g);
            try {
                std::rethrow_exception(g.exceptions().at(0));
            } catch (const aio::ExceptionGroup& nested) {
                inner_errors = describe_all(nested);
            }
        }
    };
    loop.run_until_complete(body());
    // The inner group fails at 5 ms and cancels "shallow" (at 10 ms it would have failed).
    REQUIRE(outer_errors == std::vector<std::string>{"ExceptionGroup(1)"});
    REQUIRE(inner_errors == std::vector<std::string>{"error: deep failure"});
    REQUIRE(log == Log{"deep raises", "sibling cancelled: ", "shallow cancelled: "});
}

TEST_CASE("TaskGroup: an external cancel of the joining task cancels the children, waits, and propagates "
          "a plain CancelledError",
          "[task_group][cancel]") {
    aio_test::CountedBaseline baseline;
    {
        aio::EventLoop loop(aio_test::virtual_loop());
        Log log;
        std::string outcome;
        long long took = -1;
        auto joiner = [&]() -> aio::Task<> {
            aio::TaskGroup tg;
            tg.create_task(sleeper(log, "a", 1h));
            tg.create_task(slow_to_cancel(log, "b", 1h, 5ms));
            try {
                co_await tg.join();
            } catch (const aio::CancelledError& e) {
                log.push_back("joiner: CancelledError " + e.message());
                throw;
            }
        };
        auto body = [&]() -> aio::Task<> {
            const auto t0 = loop.time();
            auto j = aio::create_task(joiner());
            co_await aio::sleep(10ms);
            j.cancel("shutdown");
            outcome = co_await outcome_of(j);
            took = aio_test::ms_since(t0);
            REQUIRE(j.cancelled());
            REQUIRE(aio::all_tasks().size() == 1);
            REQUIRE(aio_test::timers_of(loop).empty());
        };
        loop.run_until_complete(body());
        REQUIRE(outcome == "CancelledError: shutdown");
        REQUIRE(took == 15);
        REQUIRE(log.size() == 4);
        REQUIRE(sorted(Log(log.begin(), log.begin() + 2)) == Log{"a cancelled: shutdown", "b cleanup start"});
        REQUIRE(Log(log.begin() + 2, log.end()) == Log{"b cleanup end", "joiner: CancelledError shutdown"});
    }
    REQUIRE(baseline.leaked() == 0);
}

TEST_CASE("TaskGroup: a child cancelled by someone else is not an error", "[task_group][cancel]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::string outcome;
    auto body = [&]() -> aio::Task<> {
        aio::TaskGroup tg;
        auto victim = tg.create_task(sleeper(log, "victim", 1h));
        tg.create_task(sleeper(log, "other", 10ms));
        auto killer = [&]() -> aio::Task<> {
            co_await aio::sleep(1ms);
            victim.cancel("bystander");
        };
        aio::create_task(killer());
        outcome = co_await outcome_of(join(tg));
    };
    loop.run_until_complete(body());
    REQUIRE(outcome == "value");
    REQUIRE(log == Log{"victim cancelled: bystander", "other done"});
}

TEST_CASE("TaskGroup: create_task on a shutting-down group throws RuntimeError saying so", "[task_group]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::string refused, joined;
    bool extra_ran = false;
    auto extra = [&]() -> aio::Task<> {
        extra_ran = true;
        co_return;
    };
    auto body = [&]() -> aio::Task<> {
        aio::TaskGroup tg;
        tg.create_task(failer(log, "bad", 1ms, "x"));
        tg.create_task(slow_to_cancel(log, "slow", 1h, 10ms));
        co_await aio::sleep(2ms); // bad has failed; slow is still cleaning up
        try {
            tg.create_task(extra());
        } catch (const aio::RuntimeError& e) {
            refused = e.what();
        }
        joined = co_await outcome_of(join(tg));
    };
    loop.run_until_complete(body());
    REQUIRE_THAT(refused, Catch::Contains("shutting down"));
    REQUIRE(joined == "ExceptionGroup(1)");
    REQUIRE_FALSE(extra_ran);
}

TEST_CASE("TaskGroup: create_task after join throws RuntimeError saying the group is finished", "[task_group]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::string refused;
    auto body = [&]() -> aio::Task<> {
        aio::TaskGroup tg;
        tg.create_task(sleeper(log, "a", 1ms));
        co_await tg.join();
        try {
            tg.create_task(sleeper(log, "late", 1ms));
        } catch (const aio::RuntimeError& e) {
            refused = e.what();
        }
        co_await aio::sleep(5ms);
    };
    loop.run_until_complete(body());
    REQUIRE_THAT(refused, Catch::Contains("finished"));
    REQUIRE(log == Log{"a done"});
}

TEST_CASE("TaskGroup: children may start siblings in the same group while it runs", "[task_group]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    long long took = -1;
    aio::TaskGroup* group = nullptr;
    std::function<aio::Task<>(int)> spawner;
    spawner = [&](int depth) -> aio::Task<> {
        co_await aio::sleep(10ms);
        log.push_back("level " + std::to_string(depth));
        if (depth < 3) group->create_task(spawner(depth + 1));
    };
    auto body = [&]() -> aio::Task<> {
        const auto t0 = loop.time();
        aio::TaskGroup tg;
        group = &tg;
        tg.create_task(spawner(1));
        co_await tg.join(); // also waits for the siblings started while joining
        took = aio_test::ms_since(t0);
        group = nullptr;
    };
    loop.run_until_complete(body());
    REQUIRE(log == Log{"level 1", "level 2", "level 3"});
    REQUIRE(took == 30);
}

TEST_CASE("TaskGroup: the destructor cancels the children still running", "[task_group][cancel]") {
    aio_test::CountedBaseline baseline;
    {
        aio::EventLoop loop(aio_test::virtual_loop());
        Log log;
        std::vector<aio::Task<int>> kids;
        auto body = [&]() -> aio::Task<> {
            {
                aio::TaskGroup tg;
                kids.push_back(tg.create_task(sleeper(log, "a", 1h)));
                kids.push_back(tg.create_task(sleeper(log, "b", 1ms)));
                co_await aio::sleep(5ms);
            } // no join
            log.push_back("group destroyed");
            for (auto& k : kids) (void)co_await outcome_of(k);
            REQUIRE(aio_test::timers_of(loop).empty());
        };
        loop.run_until_complete(body());
        REQUIRE(log == Log{"b done", "group destroyed", "a cancelled: the TaskGroup was destroyed"});
        REQUIRE(kids[0].cancelled());
        REQUIRE_FALSE(kids[1].cancelled());
        kids.clear();
    }
    REQUIRE(baseline.leaked() == 0);
}

TEST_CASE("TaskGroup: a cancel during join while a child has failed raises the ExceptionGroup",
          "[task_group][cancel]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::string outcome;
    auto joiner = [&]() -> aio::Task<> {
        aio::TaskGroup tg;
        tg.create_task(failer(log, "bad", 1ms, "x"));
        tg.create_task(slow_to_cancel(log, "slow", 1h, 10ms));
        co_await tg.join();
    };
    auto body = [&]() -> aio::Task<> {
        auto j = aio::create_task(joiner());
        co_await aio::sleep(5ms); // bad failed, slow is cleaning up
        j.cancel("late cancel");
        outcome = co_await outcome_of(j);
    };
    loop.run_until_complete(body());
    REQUIRE(outcome == "ExceptionGroup(1)");
}
