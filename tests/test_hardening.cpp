// Regression tests for the hardening fixes (single-threaded; the items that need another
// thread are in test_threads_hardening.cpp). Each TEST_CASE starts with the number of the item
// it checks:
//   1  closing a loop never throws out of a destructor
//   2  TaskGroup is structured on every path (several joiners, aio::task_group(), Python 3.13
//      cancel/error collision)
//   3  "forever" durations and deadlines neither fire nor overflow
//   4  combinators refuse a task of another loop
//   6  deep await chains and long cancellation chains use no C stack per link
//   7  any awaitable composes (gather, shield, TaskGroup, wait_for)
//   8  formatting a task changes nothing
//   9  smaller asyncio 3.13 semantics
//   10 a huge fd number allocates nothing
#include "catch.hpp"
#include "combinator_util.hpp"
#include "pipe.hpp"
#include <aio/aio.hpp>
#include <aio/format.hpp>

#include <fmt/core.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

using namespace std::chrono_literals;
using aio_test::error_of;
using aio_test::failer;
using aio_test::Log;
using aio_test::outcome_of;
using aio_test::sleeper;

namespace {

using Contexts = std::vector<aio::ExceptionContext>;

// Makes `loop` record what it reports instead of printing it.
void record_errors(aio::EventLoop& loop, Contexts& into) {
    loop.set_exception_handler(
        [&into](aio::EventLoop&, const aio::ExceptionContext& c) { into.push_back(c); });
}

void silence(aio::EventLoop& loop) {
    loop.set_exception_handler([](aio::EventLoop&, const aio::ExceptionContext&) {});
}

// The first recorded context whose message contains `text`, or nullptr.
const aio::ExceptionContext* find_report(const Contexts& reports, const std::string& text) {
    for (const auto& c : reports)
        if (c.message.find(text) != std::string::npos)
            return &c;
    return nullptr;
}

std::string all_messages(const Contexts& reports) {
    std::string out;
    for (const auto& c : reports)
        out += "[" + c.message + "] ";
    return out;
}

bool starts_with(const std::string& s, const std::string& prefix) {
    return s.rfind(prefix, 0) == 0;
}

// How a finished task ended (see aio_test::describe), "pending" if it has not.
std::string outcome_now(const aio::TaskRef& t) {
    if (!t.done())
        return "pending";
    if (t.cancelled())
        return "cancelled";
    return aio_test::describe(t.exception());
}

// The members of an ExceptionGroup, described; or what `e` is if it is not a group.
std::vector<std::string> group_members(const std::exception_ptr& e) {
    std::vector<std::string> out;
    if (!e)
        return {"no exception"};
    try {
        std::rethrow_exception(e);
    } catch (const aio::ExceptionGroup& g) {
        for (const auto& x : g.exceptions())
            out.push_back(aio_test::describe(x));
        return out;
    } catch (...) {
    }
    return {"not an ExceptionGroup: " + aio_test::describe(e)};
}

std::string joined(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v)
        out += (out.empty() ? "" : " | ") + s;
    return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}


aio::Task<int> value_after(aio::Clock::duration d, int v) {
    co_await aio::sleep(d);
    co_return v;
}

aio::Task<int> forever_int() {
    co_await aio::sleep(24h);
    co_return 1;
}

aio::Task<> fails_after(aio::Clock::duration d, std::string what) {
    co_await aio::sleep(d);
    throw std::runtime_error(what);
}

} // namespace

// ================================================================ 1. teardown never throws

namespace {
aio::Task<> cond_waiter(aio::Condition& c) {
    auto g = co_await c.scoped();
    co_await c.wait();
}
} // namespace

TEST_CASE("1.1 closing a loop with a task in Condition::wait() reports it, no terminate",
          "[hardening]") {
    aio::Condition cond; // outlives the loop
    Contexts reports;
    {
        aio::EventLoop loop(aio_test::virtual_loop());
        record_errors(loop, reports);
        loop.run_until_complete([](aio::Condition& c) -> aio::Task<> {
            aio::create_task(cond_waiter(c));
            co_await aio::sleep(1ms);
        }(cond));
    } // ~EventLoop closes the loop and frees the waiter's frame (its guard releases the lock)
    INFO("reports: " << all_messages(reports));
    REQUIRE(find_report(reports, "Task was destroyed but it is pending") != nullptr);
    REQUIRE_FALSE(cond.locked());
}

TEST_CASE("1.2 a guard's release() throwing at loop close goes to the handler", "[hardening]") {
    aio::Lock lock; // outlives the loop
    Contexts reports;
    {
        aio::EventLoop loop(aio_test::virtual_loop());
        record_errors(loop, reports);
        auto holder = [](aio::Lock& l) -> aio::Task<> {
            auto g = co_await l.scoped();
            l.release(); // the guard's own release() will throw: the lock is no longer locked
            co_await aio::sleep(1h);
        };
        auto body = [&]() -> aio::Task<> {
            aio::create_task(holder(lock));
            co_await aio::sleep(1ms);
        };
        loop.run_until_complete(body());
        loop.close(); // frees the holder's frame: ~Guard -> release() throws aio::RuntimeError
    }
    INFO("reports: " << all_messages(reports));
    const aio::ExceptionContext* ignored = find_report(reports, "Exception ignored");
    REQUIRE(ignored != nullptr);
    REQUIRE(ignored->exception != nullptr);
    REQUIRE_THROWS_AS(std::rethrow_exception(ignored->exception), aio::RuntimeError);
    REQUIRE(find_report(reports, "Task was destroyed but it is pending") != nullptr);
}

// ================================================================ 2. TaskGroup is structured

namespace {
aio::Task<> join_group(aio::TaskGroup& tg) {
    co_await tg.join();
}

// A child that records its cancellation (into data that outlives every frame here).
aio::Task<> cancellable_child(std::vector<int>& r) {
    try {
        co_await aio::sleep(1h);
    } catch (const aio::CancelledError&) {
        r.push_back(-1);
        throw;
    }
}

struct TwoJoiners {
    std::size_t pending = 99;
    std::string j1, j2;
};

// Two tasks await tg.join() of one group whose only child is `child`.
TwoJoiners two_joiners(std::function<aio::Task<>()> child) {
    aio::TaskGroup tg; // outlives the loop: a joiner left waiting must not dangle
    TwoJoiners out;
    {
        aio::EventLoop loop(aio_test::virtual_loop());
        silence(loop);
        auto body = [&]() -> aio::Task<> {
            tg.create_task(child());
            auto j1 = aio::create_task(join_group(tg));
            auto j2 = aio::create_task(join_group(tg));
            // Not gather/wait_for: a joiner that never wakes would make them hang. (The vector is
            // built outside the co_await: g++ 12 rejects an initializer list inside one.)
            std::vector<aio::Task<>> joiners{j1, j2};
            auto w = co_await aio::wait(std::move(joiners), aio::ReturnWhen::all_completed, 1s);
            out.pending = w.pending.size();
            out.j1 = outcome_now(j1);
            out.j2 = outcome_now(j2);
        };
        loop.run_until_complete(body());
    }
    return out;
}
} // namespace

TEST_CASE("2a.1 two tasks awaiting TaskGroup::join() both return", "[hardening][task_group]") {
    TwoJoiners r = two_joiners([] { return aio::Task<>(aio::sleep(10ms)); });
    REQUIRE(r.pending == 0);
    REQUIRE(r.j1 == "value");
    REQUIRE(r.j2 == "value");
}

TEST_CASE("2a.2 two tasks awaiting TaskGroup::join() both get the ExceptionGroup",
          "[hardening][task_group]") {
    TwoJoiners r = two_joiners([] { return fails_after(10ms, "child failed"); });
    REQUIRE(r.pending == 0);
    REQUIRE(r.j1 == "ExceptionGroup(1)");
    REQUIRE(r.j2 == "ExceptionGroup(1)");
}

TEST_CASE("2b.1 task_group(body) waits for every child and returns the body's value",
          "[hardening][task_group]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    int value = 0;
    long long took = -1, took_void = -1;
    auto body = [&]() -> aio::Task<> {
        auto t0 = loop.time();
        value = co_await aio::task_group([&](aio::TaskGroup& tg) -> aio::Task<int> {
            tg.create_task(sleeper(log, "a", 20ms));
            tg.create_task(sleeper(log, "b", 10ms));
            co_return 42;
        });
        took = aio_test::ms_since(t0);
        t0 = loop.time();
        co_await aio::task_group([&](aio::TaskGroup& tg) -> aio::Task<> {
            tg.create_task(sleeper(log, "c", 5ms));
            co_return;
        });
        took_void = aio_test::ms_since(t0);
    };
    loop.run_until_complete(body());
    REQUIRE(value == 42);
    REQUIRE(took == 20);
    REQUIRE(took_void == 5);
    REQUIRE(log == Log{"b done", "a done", "c done"});
}

TEST_CASE("2b.2 task_group(body): a child failing after the body returned gives an ExceptionGroup",
          "[hardening][task_group]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::exception_ptr error;
    auto body = [&]() -> aio::Task<> {
        error = co_await error_of(aio::task_group([&](aio::TaskGroup& tg) -> aio::Task<int> {
            tg.create_task(failer(log, "bad", 10ms, "boom"));
            tg.create_task(sleeper(log, "sibling", 1h));
            co_return 1;
        }));
    };
    loop.run_until_complete(body());
    REQUIRE(group_members(error) == std::vector<std::string>{"error: boom"});
    REQUIRE(log.size() == 2);
    REQUIRE(log[0] == "bad raises");
    REQUIRE(starts_with(log[1], "sibling cancelled"));
}

TEST_CASE("2b.3 task_group(body): outside cancel awaits the children, then CancelledError",
          "[hardening][task_group][cancel]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    std::vector<int> r;
    std::vector<int> seen_in_catch{99};
    bool caught = false, parent_cancelled = false;
    std::string outcome;
    auto parent = [&]() -> aio::Task<> {
        try {
            co_await aio::task_group([&](aio::TaskGroup& tg) -> aio::Task<> {
                tg.create_task(cancellable_child(r));
                co_await aio::sleep(1h);
            });
        } catch (const aio::CancelledError&) {
            caught = true;
            seen_in_catch = r; // the child's catch block has run already
            throw;
        }
    };
    auto body = [&]() -> aio::Task<> {
        auto p = aio::create_task(parent());
        co_await aio::sleep(1ms);
        p.cancel("stop");
        outcome = co_await outcome_of(p);
        parent_cancelled = p.cancelled();
    };
    loop.run_until_complete(body());
    REQUIRE(caught);
    REQUIRE(seen_in_catch == std::vector<int>{-1});
    REQUIRE(starts_with(outcome, "CancelledError"));
    REQUIRE(parent_cancelled);
}

TEST_CASE("2b.4 task_group(body): a failing child cancels body and siblings, not the awaiter",
          "[hardening][task_group][cancel]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    std::exception_ptr error;
    long long took = -1;
    int cancelling_after = -1;
    auto parent = [&]() -> aio::Task<> {
        const auto t0 = loop.time();
        error = co_await error_of(aio::task_group([&](aio::TaskGroup& tg) -> aio::Task<> {
            tg.create_task(failer(log, "bad", 10ms, "boom"));
            tg.create_task(sleeper(log, "sibling", 1h));
            try {
                co_await aio::sleep(1h);
            } catch (const aio::CancelledError&) {
                log.push_back("body cancelled");
                throw;
            }
            log.push_back("body finished");
        }));
        took = aio_test::ms_since(t0);
        cancelling_after = aio::current_task().cancelling();
        co_await aio::sleep(1ms); // the task goes on normally
        log.push_back("parent slept");
    };
    loop.run_until_complete(parent());
    INFO("log: " << joined(log));
    REQUIRE(group_members(error) == std::vector<std::string>{"error: boom"});
    REQUIRE(took == 10);
    REQUIRE(cancelling_after == 0);
    REQUIRE(log.size() == 4);
    REQUIRE(log.front() == "bad raises");
    REQUIRE(log.back() == "parent slept");
    Log middle(log.begin() + 1, log.end() - 1);
    std::sort(middle.begin(), middle.end());
    REQUIRE(middle[0] == "body cancelled");
    REQUIRE(starts_with(middle[1], "sibling cancelled"));
}

TEST_CASE("2b.5 task_group(body): a throwing body gives an ExceptionGroup after the children",
          "[hardening][task_group]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    std::vector<int> r;
    std::exception_ptr error;
    auto parent = [&]() -> aio::Task<> {
        error = co_await error_of(aio::task_group([&](aio::TaskGroup& tg) -> aio::Task<> {
            tg.create_task(cancellable_child(r));
            co_await aio::sleep(5ms);
            throw std::runtime_error("body failed");
        }));
    };
    loop.run_until_complete(parent());
    const auto members = group_members(error);
    INFO("members: " << joined(members));
    REQUIRE(contains(members, "error: body failed"));
    REQUIRE(r == std::vector<int>{-1});
}

namespace {
// Owns a plain TaskGroup and leaves before join() when cancelled. The child's data lives
// outside this frame.
aio::Task<> group_owner(aio::TaskRef& kid, Log& log) {
    aio::TaskGroup tg;
    kid = tg.create_task(sleeper(log, "kid", 1h));
    co_await aio::sleep(1h);
    co_await tg.join();
}
} // namespace

TEST_CASE("2b.6 a plain TaskGroup destroyed with running children is reported",
          "[hardening][task_group]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Contexts reports;
    record_errors(loop, reports);
    Log log;
    aio::TaskRef kid;
    std::string outcome;
    bool kid_cancelled = false;
    auto body = [&]() -> aio::Task<> {
        auto owner = aio::create_task(group_owner(kid, log));
        co_await aio::sleep(1ms);
        owner.cancel("owner cancelled");
        outcome = co_await outcome_of(owner);
        for (int i = 0; i < 3; ++i)
            co_await aio::sleep(0s);
        kid_cancelled = kid.valid() && kid.cancelled();
    };
    loop.run_until_complete(body());
    INFO("reports: " << all_messages(reports));
    REQUIRE(starts_with(outcome, "CancelledError"));
    REQUIRE(find_report(reports, "TaskGroup destroyed") != nullptr);
    REQUIRE(kid_cancelled);
    REQUIRE(log.size() == 1);
    REQUIRE(starts_with(log[0], "kid cancelled"));
}

namespace {
aio::Task<> cancel_parent_then_raise(aio::TaskRef parent, Log& log) {
    co_await aio::sleep(10ms);
    log.push_back("child cancels the parent and raises");
    parent.cancel("outside");
    throw std::runtime_error("child failed");
}

aio::Task<> raise_when_woken(Log& log) {
    bool cancelled = false;
    try {
        co_await aio::sleep(10ms);
    } catch (const aio::CancelledError&) {
        cancelled = true;
    }
    log.push_back(cancelled ? "child cancelled, raises" : "child woke, raises");
    throw std::runtime_error("child failed");
}

struct CollisionResult {
    std::exception_ptr join_error;
    int cancelling_after = -1;
    Log log;
    std::string outcome;
    bool parent_cancelled = false;
};

// The parent joins a group whose child raises at 10 ms. Either the child itself cancels the
// parent just before raising, or a callback due at the child's wake-up time, but scheduled
// before it, cancels the parent in the same iteration, just before the child's step.
CollisionResult cancel_and_error_collide(bool child_cancels_parent) {
    aio::EventLoop loop(aio_test::virtual_loop());
    CollisionResult r;
    auto parent = [&]() -> aio::Task<> {
        aio::TaskGroup tg;
        if (child_cancels_parent)
            tg.create_task(cancel_parent_then_raise(aio::current_task(), r.log));
        else
            tg.create_task(raise_when_woken(r.log));
        r.join_error = co_await error_of(tg.join());
        r.cancelling_after = aio::current_task().cancelling();
        try {
            co_await aio::sleep(0s);
            r.log.push_back("next await returned");
        } catch (const aio::CancelledError&) {
            r.log.push_back("next await: CancelledError");
            throw;
        }
    };
    auto body = [&]() -> aio::Task<> {
        auto p = aio::create_task(parent());
        if (!child_cancels_parent) {
            // Armed before the child's sleep(10ms), at the same (virtual) time: it fires first,
            // in the same iteration as the child's wake-up.
            loop.call_later(10ms, [p]() mutable { p.cancel("outside"); });
        }
        r.outcome = co_await outcome_of(p);
        r.parent_cancelled = p.cancelled();
    };
    loop.run_until_complete(body());
    return r;
}
} // namespace

TEST_CASE("2c.1 join(): a child cancels the parent then raises: error wins, cancel kept",
          "[hardening][task_group][cancel]") {
    CollisionResult r = cancel_and_error_collide(true);
    INFO("log: " << joined(r.log));
    REQUIRE(group_members(r.join_error) == std::vector<std::string>{"error: child failed"});
    REQUIRE(r.cancelling_after == 1);
    REQUIRE(r.log == Log{"child cancels the parent and raises", "next await: CancelledError"});
    REQUIRE(starts_with(r.outcome, "CancelledError"));
    REQUIRE(r.parent_cancelled);
}

TEST_CASE("2c.2 join(): outside cancel, then a child error in one iteration: cancel kept",
          "[hardening][task_group][cancel]") {
    CollisionResult r = cancel_and_error_collide(false);
    INFO("log: " << joined(r.log));
    REQUIRE(group_members(r.join_error) == std::vector<std::string>{"error: child failed"});
    REQUIRE(r.cancelling_after == 1);
    // "child cancelled": the cancel did come first in that iteration.
    REQUIRE(r.log == Log{"child cancelled, raises", "next await: CancelledError"});
    REQUIRE(starts_with(r.outcome, "CancelledError"));
    REQUIRE(r.parent_cancelled);
}

// ================================================================ 3. forever

TEST_CASE("3.1 wait_for(sleep(duration::max()), 10ms) times out after 10ms",
          "[hardening][forever]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    std::string outcome;
    long long took = -1;
    auto body = [&]() -> aio::Task<> {
        const auto t0 = loop.time();
        outcome = co_await outcome_of(aio::wait_for(aio::sleep(aio::Clock::duration::max()), 10ms));
        took = aio_test::ms_since(t0);
    };
    loop.run_until_complete(body());
    REQUIRE(outcome == "TimeoutError");
    REQUIRE(took == 10);
}

TEST_CASE("3.2 call_later(duration::max()) never fires", "[hardening][forever]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    bool fired = false;
    auto handle = loop.call_later(aio::Clock::duration::max(), [&fired] { fired = true; });
    loop.run_until_complete(aio::sleep(1h));
    REQUIRE_FALSE(fired);
    handle.cancel();
}

TEST_CASE("3.3 wait_for(x, duration::max()), timeout_at(time_point::max(), x)",
          "[hardening][forever]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    std::string via_wait_for, via_timeout_at;
    int v1 = 0, v2 = 0;
    auto body = [&]() -> aio::Task<> {
        try {
            v1 = co_await aio::wait_for(value_after(10ms, 7), aio::Clock::duration::max());
        } catch (...) {
            via_wait_for = aio_test::describe(std::current_exception());
        }
        try {
            v2 = co_await aio::timeout_at(aio::Clock::time_point::max(), value_after(10ms, 7));
        } catch (...) {
            via_timeout_at = aio_test::describe(std::current_exception());
        }
    };
    loop.run_until_complete(body());
    INFO("wait_for: " << via_wait_for << "; timeout_at: " << via_timeout_at);
    REQUIRE(v1 == 7);
    REQUIRE(v2 == 7);
}

TEST_CASE("3.4 a sleep(duration::max()) does not move the test clock", "[hardening][forever]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    long long took = -1;
    bool forever_done = true;
    auto body = [&]() -> aio::Task<> {
        const auto t0 = loop.time();
        auto forever = aio::create_task(aio::sleep(aio::Clock::duration::max()));
        auto hour = aio::create_task(aio::sleep(1h));
        co_await hour;
        took = aio_test::ms_since(t0);
        forever_done = forever.done();
        forever.cancel();
        (void)co_await outcome_of(forever);
    };
    loop.run_until_complete(body());
    REQUIRE_FALSE(forever_done);
    REQUIRE(took == 3'600'000);
}

// ================================================================ 4. combinators check the loop

namespace {
struct ForeignOutcome {
    std::string outcome; // "RuntimeError: ...", "value", "hung", ...
    std::string running; // the running loop's address, as fmt prints it
    std::string other;   // the other loop's address
};

// `use(f)` runs in a task of one loop with `f` a task of another loop (which never runs).
ForeignOutcome with_foreign_task(aio::Task<> (*use)(aio::Task<int>)) {
    ForeignOutcome r;
    aio::EventLoop other; // declared first: outlives what the test loop's frames hold
    silence(other);
    aio::Task<int> f = other.create_task(forever_int());
    r.other = fmt::format("{}", static_cast<const void*>(&other));
    aio::EventLoop loop(aio_test::virtual_loop());
    silence(loop);
    auto body = [&]() -> aio::Task<> {
        r.running = fmt::format("{}", static_cast<const void*>(&aio::get_running_loop()));
        auto attempt = aio::create_task(use(f));
        // aio::wait neither cancels nor waits on timeout: a combinator that hangs fails the test.
        std::vector<aio::Task<>> attempts{attempt};
        auto w = co_await aio::wait(std::move(attempts), aio::ReturnWhen::all_completed, 5s);
        r.outcome = w.pending.empty() ? outcome_now(attempt) : "hung";
    };
    loop.run_until_complete(body());
    return r;
}

void require_different_loop_error(const ForeignOutcome& r) {
    INFO("outcome: " << r.outcome << "; running loop " << r.running << ", other loop " << r.other);
    REQUIRE(starts_with(r.outcome, "RuntimeError: "));
    REQUIRE_THAT(r.outcome, Catch::Contains("different event loop"));
    REQUIRE_THAT(r.outcome, Catch::Contains(r.running));
    REQUIRE_THAT(r.outcome, Catch::Contains(r.other));
}
} // namespace

TEST_CASE("4.1 gather refuses a task of another loop", "[hardening][loops]") {
    require_different_loop_error(
        with_foreign_task([](aio::Task<int> f) -> aio::Task<> { (void)co_await aio::gather(f); }));
}

TEST_CASE("4.2 wait_for refuses a task of another loop", "[hardening][loops]") {
    require_different_loop_error(with_foreign_task(
        [](aio::Task<int> f) -> aio::Task<> { (void)co_await aio::wait_for(f, 1s); }));
}

TEST_CASE("4.3 wait refuses a task of another loop", "[hardening][loops]") {
    require_different_loop_error(with_foreign_task([](aio::Task<int> f) -> aio::Task<> {
        std::vector<aio::Task<int>> tasks{f};
        (void)co_await aio::wait(std::move(tasks), aio::ReturnWhen::all_completed, 10ms);
    }));
}

TEST_CASE("4.4 as_completed refuses a task of another loop", "[hardening][loops]") {
    require_different_loop_error(with_foreign_task([](aio::Task<int> f) -> aio::Task<> {
        std::vector<aio::Task<int>> tasks{f};
        for (auto next : aio::as_completed(std::move(tasks)))
            (void)co_await next;
    }));
}

TEST_CASE("4.5 shield refuses a task of another loop", "[hardening][loops]") {
    require_different_loop_error(
        with_foreign_task([](aio::Task<int> f) -> aio::Task<> { (void)co_await aio::shield(f); }));
}

TEST_CASE("4.6 TaskGroup::create_task refuses a task of another loop",
          "[hardening][loops][task_group]") {
    require_different_loop_error(with_foreign_task([](aio::Task<int> f) -> aio::Task<> {
        aio::TaskGroup tg;
        tg.create_task(f);
        co_await tg.join();
    }));
}

// ================================================================ 6. deep chains

namespace {
// The address of the calling function's stack frame (of a frame just below it).
[[gnu::noinline]] std::uintptr_t stack_position() {
    return reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
}

std::uintptr_t leaf_stack_position = 0;

aio::Task<int> chain(int n) {
    if (n == 0) {
        leaf_stack_position = stack_position();
        co_await aio::sleep(0s);
        co_return 0;
    }
    co_return 1 + co_await chain(n - 1);
}
} // namespace

// Symmetric transfer (config.hpp) is on where the compiler makes it a tail call: optimised,
// unsanitized builds. Elsewhere nesting costs stack (README: "Deep await chains").
#if AIO_SYMMETRIC_START
#define AIO_HARDENING_CHAIN_DEPTH 100000
#define AIO_HARDENING_CHAIN_NAME "6.1 a chain of 100000 nested co_awaits returns (optimised build)"
#else
#define AIO_HARDENING_CHAIN_DEPTH 2000
#define AIO_HARDENING_CHAIN_NAME "6.1 a chain of nested co_awaits returns (-O0 build: depth 2000)"
#endif

TEST_CASE(AIO_HARDENING_CHAIN_NAME, "[hardening][stack]") {
    constexpr int depth = AIO_HARDENING_CHAIN_DEPTH;
    INFO("depth " << depth << " (100000 in optimised builds, 2000 at -O0)");
    aio::EventLoop loop(aio_test::virtual_loop());
    const std::uintptr_t top = stack_position();
    REQUIRE(loop.run_until_complete(chain(depth)) == depth);
#if AIO_SYMMETRIC_START
    // Constant C stack: the innermost coroutine runs a bounded distance below this frame
    // (nested resume() calls take 80-100 bytes a level: ~8 MB for 100000 levels).
    const std::uintptr_t used = top > leaf_stack_position ? top - leaf_stack_position : 0;
    INFO("stack used at the innermost coroutine: " << used << " bytes");
    REQUIRE(used < (std::uintptr_t{1} << 20));
#else
    (void)top;
#endif
}

namespace {
aio::Task<> last_link() {
    co_await aio::sleep(1h);
}
aio::Task<> link_to(aio::Task<> next) {
    co_await next;
}
} // namespace

TEST_CASE("6.2 cancelling the head of 100000 tasks awaiting each other does not recurse",
          "[hardening][stack][cancel]") {
    constexpr std::size_t n = 100000;
    aio::EventLoop loop(aio_test::virtual_loop());
    std::vector<aio::Task<>> tasks(n);
    std::string outcome;
    std::size_t cancelled = 0;
    auto body = [&]() -> aio::Task<> {
        tasks[n - 1] = aio::create_task(last_link());
        for (std::size_t i = n - 1; i-- > 0;)
            tasks[i] = aio::create_task(link_to(tasks[i + 1]));
        co_await aio::sleep(0s); // every link has started and waits for the next one
        tasks[0].cancel("stop");
        outcome = co_await outcome_of(tasks[0]);
        for (const auto& t : tasks)
            cancelled += t.cancelled() ? 1 : 0;
    };
    loop.run_until_complete(body());
    REQUIRE(starts_with(outcome, "CancelledError"));
    REQUIRE(cancelled == n);
}

// ================================================================ 7. any awaitable composes

namespace {
// A user-defined awaitable that completes at once with a value.
struct ReadyValue {
    int value;
    bool await_ready() const noexcept { return true; }
    void await_suspend(std::coroutine_handle<>) const noexcept {}
    int await_resume() const noexcept { return value; }
};
} // namespace

TEST_CASE("7.1 gather(aio::sleep(1s), f())", "[hardening][compose]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    int value = 0;
    long long took = -1;
    auto body = [&]() -> aio::Task<> {
        const auto t0 = loop.time();
        auto [slept, v] = co_await aio::gather(aio::sleep(1s), value_after(10ms, 5));
        (void)slept;
        value = v;
        took = aio_test::ms_since(t0);
    };
    loop.run_until_complete(body());
    REQUIRE(value == 5);
    REQUIRE(took == 1000);
}

TEST_CASE("7.2 shield(aio::sleep(1s))", "[hardening][compose]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    long long took = -1;
    auto body = [&]() -> aio::Task<> {
        const auto t0 = loop.time();
        co_await aio::shield(aio::sleep(1s));
        took = aio_test::ms_since(t0);
    };
    loop.run_until_complete(body());
    REQUIRE(took == 1000);
}

TEST_CASE("7.3 TaskGroup::create_task(aio::sleep(1s))", "[hardening][compose][task_group]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    long long took = -1;
    bool child_done = false;
    auto body = [&]() -> aio::Task<> {
        const auto t0 = loop.time();
        aio::TaskGroup tg;
        auto child = tg.create_task(aio::sleep(1s));
        co_await tg.join();
        took = aio_test::ms_since(t0);
        child_done = child.done() && !child.cancelled();
    };
    loop.run_until_complete(body());
    REQUIRE(took == 1000);
    REQUIRE(child_done);
}

TEST_CASE("7.4 wait_for(aio::wait_readable(fd), 1s) on a readable pipe",
          "[hardening][compose][io]") {
    aio_test::Pipe p;
    p.write("x");
    aio::EventLoop loop(aio_test::virtual_loop());
    std::string outcome;
    long long took = -1;
    auto body = [&]() -> aio::Task<> {
        const auto t0 = loop.time();
        outcome = co_await outcome_of(aio::wait_for(aio::wait_readable(p.r), 1s));
        took = aio_test::ms_since(t0);
    };
    loop.run_until_complete(body());
    REQUIRE(outcome == "value");
    REQUIRE(took == 0);
    REQUIRE(p.read_available() == "x");
}

TEST_CASE("7.5 wait_for(aio::wait_readable(fd), 10ms) on an empty pipe times out",
          "[hardening][compose][io]") {
    aio_test::Pipe p;
    aio::EventLoop loop(aio_test::virtual_loop());
    std::string outcome;
    long long took = -1;
    auto body = [&]() -> aio::Task<> {
        const auto t0 = loop.time();
        outcome = co_await outcome_of(aio::wait_for(aio::wait_readable(p.r), 10ms));
        took = aio_test::ms_since(t0);
    };
    loop.run_until_complete(body());
    REQUIRE(outcome == "TimeoutError");
    REQUIRE(took == 10);
}

TEST_CASE("7.6 a user-defined awaitable in gather", "[hardening][compose]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    int a = 0, b = 0;
    auto body = [&]() -> aio::Task<> {
        auto [x, y] = co_await aio::gather(ReadyValue{7}, value_after(1ms, 8));
        a = x;
        b = y;
    };
    loop.run_until_complete(body());
    REQUIRE(a == 7);
    REQUIRE(b == 8);
}

TEST_CASE("7.7 a user-defined awaitable in wait_for", "[hardening][compose]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    int v = 0;
    auto body = [&]() -> aio::Task<> { v = co_await aio::wait_for(ReadyValue{9}, 1s); };
    loop.run_until_complete(body());
    REQUIRE(v == 9);
}

// ================================================================ 8. fmt changes nothing

TEST_CASE("8.1 formatting a failed task does not mark its exception retrieved",
          "[hardening][format]") {
    Contexts reports;
    std::string text;
    {
        aio::EventLoop loop(aio_test::virtual_loop());
        record_errors(loop, reports);
        auto body = [&]() -> aio::Task<> {
            aio::Task<> t = aio::create_task(fails_after(1ms, "boom"));
            co_await aio::sleep(5ms); // t has failed; nobody awaited it
            text = fmt::format("{}", t);
            t = {}; // the last handle: the frame goes, its exception was never retrieved
        };
        loop.run_until_complete(body());
    }
    INFO("reports: " << all_messages(reports));
    REQUIRE_THAT(text, Catch::StartsWith("<Task finished name='Task-") && Catch::Contains("boom"));
    const aio::ExceptionContext* lost = find_report(reports, "Task exception was never retrieved");
    REQUIRE(lost != nullptr);
    REQUIRE_THROWS_WITH(std::rethrow_exception(lost->exception), "boom");
}

TEST_CASE("8.2 fmt::format(\"{}\", aio::create_task(f())) formats a ScheduledTask",
          "[hardening][format]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    std::string text;
    auto body = [&]() -> aio::Task<> {
        text = fmt::format("{}", aio::create_task(value_after(1ms, 1)));
        co_await aio::sleep(5ms);
    };
    loop.run_until_complete(body());
    REQUIRE_THAT(text, Catch::Matches("<Task pending name='Task-[0-9]+'>"));
}

TEST_CASE("8.3 formatting a TaskRef", "[hardening][format]") {
    Contexts reports;
    std::string running, failed;
    {
        aio::EventLoop loop(aio_test::virtual_loop());
        record_errors(loop, reports);
        auto body = [&]() -> aio::Task<> {
            running = fmt::format("{}", aio::current_task());
            aio::TaskRef t = aio::create_task(fails_after(1ms, "boom"));
            co_await aio::sleep(5ms);
            failed = fmt::format("{}", t);
            t = {};
        };
        loop.run_until_complete(body());
    }
    REQUIRE_THAT(running, Catch::Matches("<Task pending name='Task-[0-9]+'>"));
    REQUIRE_THAT(failed, Catch::StartsWith("<Task finished name='Task-"));
    REQUIRE(find_report(reports, "Task exception was never retrieved") != nullptr);
}

// ================================================================ 9. smaller semantics

TEST_CASE("9.1 cancelling a sleeping task twice delivers the first message",
          "[hardening][cancel]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    std::string outcome;
    auto body = [&]() -> aio::Task<> {
        auto t = aio::create_task(aio::sleep(1h));
        co_await aio::sleep(1ms);
        t.cancel("first");
        t.cancel("second");
        outcome = co_await outcome_of(t);
    };
    loop.run_until_complete(body());
    REQUIRE(outcome == "CancelledError: first");
}

TEST_CASE("9.2 an exception lost after as_completed's loop breaks is reported",
          "[hardening][as_completed]") {
    Contexts reports;
    int first = 0;
    {
        aio::EventLoop loop(aio_test::virtual_loop());
        record_errors(loop, reports);
        auto failing = []() -> aio::Task<int> {
            co_await aio::sleep(20ms);
            throw std::runtime_error("lost");
        };
        auto body = [&]() -> aio::Task<> {
            {
                std::vector<aio::Task<int>> tasks{value_after(10ms, 1), failing()};
                for (auto next : aio::as_completed(std::move(tasks))) {
                    first = co_await next;
                    break;
                }
            }
            co_await aio::sleep(50ms); // the second task fails; nobody retrieves it
        };
        loop.run_until_complete(body());
    }
    INFO("reports: " << all_messages(reports));
    REQUIRE(first == 1);
    const aio::ExceptionContext* lost = find_report(reports, "never retrieved");
    REQUIRE(lost != nullptr);
    REQUIRE_THROWS_WITH(std::rethrow_exception(lost->exception), "lost");
}

TEST_CASE("9.3 gather(t, t) gives both slots the whole value and leaves it in t",
          "[hardening][gather]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    const std::string expected(64, 'v'); // longer than any small-string buffer
    std::string a, b, c, d, left;
    auto make = [](std::string s) -> aio::Task<std::string> {
        co_await aio::sleep(1ms);
        co_return s;
    };
    auto body = [&]() -> aio::Task<> {
        aio::Task<std::string> t = aio::create_task(make(expected));
        std::tie(a, b) = co_await aio::gather(t, t);
        auto g = aio::gather(t, t);
        std::tie(c, d) = co_await std::move(g);
        left = t.result();
    };
    loop.run_until_complete(body());
    REQUIRE(a == expected);
    REQUIRE(b == expected);
    REQUIRE(c == expected);
    REQUIRE(d == expected);
    REQUIRE(left == expected);
}

TEST_CASE("9.4 gather(t, t) with a move-only result throws ValueError", "[hardening][gather]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    silence(loop);
    std::string outcome;
    auto make = []() -> aio::Task<std::unique_ptr<int>> {
        co_await aio::sleep(1ms);
        co_return std::make_unique<int>(5);
    };
    auto body = [&]() -> aio::Task<> {
        aio::Task<std::unique_ptr<int>> t = aio::create_task(make());
        auto attempt = [](aio::Task<std::unique_ptr<int>> task) -> aio::Task<> {
            auto both = co_await aio::gather(task, task);
            (void)both;
        };
        outcome = co_await outcome_of(attempt(t));
        (void)co_await outcome_of(t);
    };
    loop.run_until_complete(body());
    REQUIRE(starts_with(outcome, "ValueError: "));
    REQUIRE(outcome.size() > std::string("ValueError: ").size() + 10);
}

TEST_CASE("9.5 all_tasks() and current_task() need a running loop", "[hardening][run]") {
    REQUIRE_THAT(aio_test::runtime_error_of([] { (void)aio::all_tasks(); }),
                 Catch::Contains("no running event loop"));
    REQUIRE_THAT(aio_test::runtime_error_of([] { (void)aio::current_task(); }),
                 Catch::Contains("no running event loop"));
    aio::EventLoop loop(aio_test::virtual_loop());
    silence(loop);
    auto t = loop.create_task(forever_int());
    REQUIRE(aio::all_tasks(&loop).size() == 1);
}

TEST_CASE("9.6 a failed aio::run restores the thread's previous current loop", "[hardening][run]") {
    aio::EventLoop other;
    silence(other);
    aio::Task<int> scheduled = other.create_task(forever_int()); // run() cannot schedule it again
    aio::EventLoop mine;
    aio::set_event_loop(&mine);
    std::string error = aio_test::runtime_error_of([&] { (void)aio::run(scheduled); });
    aio::EventLoop* after = aio::get_event_loop();
    aio::set_event_loop(nullptr);
    CHECK(error != "no exception");
    CHECK_FALSE(starts_with(error, "not an aio::RuntimeError"));
    REQUIRE(after == &mine);
}

// ================================================================ 10. bad fds

namespace {
// Resident set size in bytes.
long long rss_bytes() {
    long long size = 0, resident = 0;
    if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
        if (std::fscanf(f, "%lld %lld", &size, &resident) != 2)
            resident = 0;
        std::fclose(f);
    }
    return resident * static_cast<long long>(::sysconf(_SC_PAGESIZE));
}

constexpr long long max_growth = 16LL << 20;
} // namespace

TEST_CASE("10.1 add_reader(1000000000) throws EBADF and allocates nothing", "[hardening][io]") {
    aio::EventLoop loop;
    const long long before = rss_bytes();
    int code = 0;
    std::string other;
    try {
        loop.add_reader(1000000000, [] {});
    } catch (const std::system_error& e) {
        code = e.code().value();
    } catch (const std::exception& e) {
        other = e.what();
    }
    const long long grew = rss_bytes() - before;
    INFO("other exception: " << other << "; RSS grew by " << grew << " bytes");
    REQUIRE(code == EBADF);
    REQUIRE(grew < max_growth);
}

TEST_CASE("10.2 wait_readable(100000000) throws EBADF and allocates nothing", "[hardening][io]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    long long grew = -1;
    int code = 0;
    std::string other;
    auto body = [&]() -> aio::Task<> {
        const long long before = rss_bytes();
        try {
            co_await aio::wait_readable(100000000);
        } catch (const std::system_error& e) {
            code = e.code().value();
        } catch (const std::exception& e) {
            other = e.what();
        }
        grew = rss_bytes() - before;
    };
    loop.run_until_complete(body());
    INFO("other exception: " << other << "; RSS grew by " << grew << " bytes");
    REQUIRE(code == EBADF);
    REQUIRE(grew < max_growth);
}
