// Tests for aio::Task, aio::create_task, current_task, all_tasks (include/aio/task.hpp).
#include <aio/task.hpp>
#include <aio/aio.hpp>

#include "catch.hpp"
#include "counted.hpp"
#include "test_util.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

using namespace std::chrono_literals;
using aio_test::Counted;
using Log = std::vector<std::string>;

namespace {

aio::RunOptions virtual_time() {
    aio::RunOptions o;
    o.virtual_time = true;
    return o;
}

aio::Task<> record(Log& log, std::string what) {
    log.push_back(what);
    co_return;
}

aio::Task<int> value_after(int v, aio::Clock::duration d) {
    co_await aio::sleep(d);
    co_return v;
}

aio::Task<int> immediate_value(int v) { co_return v; }

aio::Task<int> await_int(aio::Task<int> t) { co_return co_await t; }

aio::Task<> fail_after(std::string msg, aio::Clock::duration d) {
    co_await aio::sleep(d);
    throw std::domain_error(msg);
}

int task_number(const std::string& name) {
    REQUIRE(name.rfind("Task-", 0) == 0);
    return std::stoi(name.substr(5));
}

} // namespace

// ---------------------------------------------------------------- laziness

TEST_CASE("calling a coroutine that returns Task runs nothing", "[task]") {
    Log log;
    {
        auto t = record(log, "ran");
        REQUIRE(t.valid());
    }
    REQUIRE(log.empty());
}

TEST_CASE("co_await of a lazy Task runs it inline and yields its result", "[task]") {
    Log log;
    auto body = [&]() -> aio::Task<int> {
        log.push_back("before");
        co_await record(log, "inline");
        log.push_back("after");
        co_return co_await immediate_value(5) + co_await value_after(6, 1ms);
    };
    REQUIRE(aio::run(body(), virtual_time()) == 11);
    REQUIRE(log == Log{"before", "inline", "after"});
}

TEST_CASE("create_task never runs the task inside the call", "[task]") {
    Log log;
    auto body = [&]() -> aio::Task<> {
        log.push_back("main: before create_task");
        auto t = aio::create_task(record(log, "child runs"));
        log.push_back("main: after create_task");
        REQUIRE_FALSE(t.done());
        co_await t;
        log.push_back("main: after await");
    };
    aio::run(body());
    REQUIRE(log == Log{"main: before create_task", "main: after create_task", "child runs",
                       "main: after await"});
}

TEST_CASE("created tasks start in creation order on a later turn", "[task]") {
    Log log;
    auto body = [&]() -> aio::Task<> {
        auto a = aio::create_task(record(log, "a"));
        auto b = aio::create_task(record(log, "b"));
        auto c = aio::create_task(record(log, "c"));
        log.push_back("main");
        co_await c;
        co_await b;
        co_await a;
    };
    aio::run(body());
    REQUIRE(log == Log{"main", "a", "b", "c"});
}

// ---------------------------------------------------------------- the tutorial

namespace {
aio::Task<> say(Log& log, std::string name, aio::Clock::duration d) {
    log.push_back(name + " started");
    co_await aio::sleep(d);
    log.push_back(name + " done");
}

aio::Task<aio::Clock::duration> tutorial(Log& log) {
    auto& loop = aio::get_running_loop();
    auto t0 = loop.time();
    auto task1 = aio::create_task(say(log, "Task1", 2s));
    auto task2 = aio::create_task(say(log, "Task2", 1s));
    co_await task1;
    co_await task2;
    co_return loop.time() - t0;
}
} // namespace

TEST_CASE("tutorial: two concurrent tasks take 2 s of loop time, not 3", "[task][virtual]") {
    Log log;
    auto real0 = std::chrono::steady_clock::now();
    auto took = aio::run(tutorial(log), virtual_time());
    REQUIRE(std::chrono::steady_clock::now() - real0 < 5s);
    REQUIRE(log == Log{"Task1 started", "Task2 started", "Task2 done", "Task1 done"});
    REQUIRE(took >= 2s);
    REQUIRE(took < 2s + 500ms);
}

// ---------------------------------------------------------------- ownership

namespace {
aio::Task<> set_flag_later(bool& flag, Counted) {
    co_await aio::sleep(10ms);
    co_await aio::sleep(0s);
    flag = true;
}
} // namespace

TEST_CASE("a task whose handles were all dropped still finishes", "[task][lifetime]") {
    aio_test::CountedBaseline baseline;
    bool flag = false;
    auto body = [&]() -> aio::Task<> {
        (void)aio::create_task(set_flag_later(flag, Counted{}));  // handle dropped at once
        {
            auto t = aio::create_task(set_flag_later(flag, Counted{}));
            auto copy = t;
        }  // all handles dropped
        co_await aio::sleep(1s);
    };
    aio::run(body(), virtual_time());
    REQUIRE(flag);
    REQUIRE(baseline.leaked() == 0);
}

// ---------------------------------------------------------------- result types

namespace {
aio::Task<int&> ref_to(int& x) {
    co_await aio::sleep(0s);
    co_return x;
}

aio::Task<std::unique_ptr<int>> make_ptr(int v) {
    co_await aio::sleep(0s);
    co_return std::make_unique<int>(v);
}
} // namespace

TEST_CASE("Task<void>", "[task]") {
    int steps = 0;
    auto child = [&]() -> aio::Task<> {
        ++steps;
        co_await aio::sleep(0s);
        ++steps;
    };
    auto body = [&]() -> aio::Task<> {
        co_await child();
        auto t = aio::create_task(child());
        co_await t;
        REQUIRE(t.done());
        t.result();  // void, does not throw
    };
    static_assert(std::is_same_v<aio::Task<>, aio::Task<void>>);
    aio::run(body());
    REQUIRE(steps == 4);
}

TEST_CASE("Task<int&> yields a reference to the outer int", "[task]") {
    int outer = 1;
    auto body = [&]() -> aio::Task<> {
        int& r = co_await ref_to(outer);
        REQUIRE(&r == &outer);
        r = 5;
        auto t = aio::create_task(ref_to(outer));
        int& r2 = co_await t;
        REQUIRE(&r2 == &outer);
        r2 += 1;
        REQUIRE(&t.result() == &outer);
    };
    aio::run(body());
    REQUIRE(outer == 6);
}

TEST_CASE("move-only results: Task<std::unique_ptr<int>> via co_await std::move(t)", "[task]") {
    auto body = [&]() -> aio::Task<int> {
        auto p = co_await make_ptr(7);  // lazy
        auto t = aio::create_task(make_ptr(8));
        std::unique_ptr<int> q = co_await std::move(t);  // scheduled task, moved out
        REQUIRE(p);
        REQUIRE(q);
        co_return *p + *q;
    };
    REQUIRE(aio::run(body()) == 15);
}

// ---------------------------------------------------------------- names

TEST_CASE("default names are Task-N with increasing N, set_name/get_name", "[task][names]") {
    std::string n1, n2, n3, renamed, named, seen_inside;
    auto inside = [&]() -> aio::Task<> {
        seen_inside = aio::current_task().get_name();
        co_return;
    };
    auto body = [&]() -> aio::Task<> {
        auto t1 = aio::create_task(immediate_value(1));
        auto t2 = aio::create_task(immediate_value(2));
        auto t3 = aio::create_task(inside());
        n1 = t1.get_name();
        n2 = t2.get_name();
        t3.set_name("renamed");
        renamed = t3.get_name();
        auto t4 = aio::create_task(immediate_value(4), "explicit");
        named = t4.get_name();
        co_await t1;
        co_await t2;
        co_await t3;
        co_await t4;
        n3 = aio::create_task(immediate_value(3)).get_name();
        co_await aio::sleep(0s);
    };
    aio::run(body());
    REQUIRE(n1 != n2);
    REQUIRE(task_number(n1) < task_number(n2));
    REQUIRE(task_number(n2) < task_number(n3));
    REQUIRE(renamed == "renamed");
    REQUIRE(seen_inside == "renamed");
    REQUIRE(named == "explicit");
}

// ---------------------------------------------------------------- state

TEST_CASE("done/result/exception of a successful task", "[task][state]") {
    aio::EventLoop loop(aio::LoopOptions{.debug = false, .virtual_time = true});
    auto t = loop.create_task(value_after(42, 10ms));
    REQUIRE(t.valid());
    REQUIRE_FALSE(t.done());
    REQUIRE_FALSE(t.cancelled());
    REQUIRE_THROWS_AS(t.result(), aio::InvalidStateError);
    REQUIRE(loop.run_until_complete(await_int(t)) == 42);
    REQUIRE(t.done());
    REQUIRE_FALSE(t.cancelled());
    REQUIRE(t.result() == 42);
    REQUIRE(t.exception() == nullptr);
}

TEST_CASE("result() before done throws InvalidStateError, also from inside the loop", "[task][state]") {
    bool threw = false;
    std::string msg;
    auto body = [&]() -> aio::Task<> {
        auto t = aio::create_task(value_after(1, 1ms));
        try {
            (void)t.result();
        } catch (const aio::InvalidStateError& e) {
            threw = true;
            msg = e.what();
        }
        co_await t;
    };
    aio::run(body(), virtual_time());
    REQUIRE(threw);
    REQUIRE_FALSE(msg.empty());
}

TEST_CASE("exception() on a pending task throws InvalidStateError (asyncio)", "[task][state]") {
    aio::EventLoop loop(aio::LoopOptions{.debug = false, .virtual_time = true});
    auto t = loop.create_task(value_after(42, 10ms));
    REQUIRE_THROWS_AS(t.exception(), aio::InvalidStateError);
    loop.run_until_complete(await_int(t));
}

TEST_CASE("done/result/exception of a failed task", "[task][state]") {
    aio::EventLoop loop(aio::LoopOptions{.debug = false, .virtual_time = true});
    auto t = loop.create_task(fail_after("bad thing happened", 5ms));
    auto body = [&]() -> aio::Task<std::string> {
        try {
            co_await t;
        } catch (const std::domain_error& e) {
            co_return e.what();
        }
        co_return "no exception";
    };
    REQUIRE(loop.run_until_complete(body()) == "bad thing happened");
    REQUIRE(t.done());
    REQUIRE_FALSE(t.cancelled());
    REQUIRE(t.exception() != nullptr);
    REQUIRE_THROWS_AS(std::rethrow_exception(t.exception()), std::domain_error);
    REQUIRE_THROWS_AS(t.result(), std::domain_error);
    REQUIRE_THROWS_WITH(t.result(), "bad thing happened");
}

TEST_CASE("add_done_callback runs after completion", "[task][callbacks]") {
    Log log;
    bool done_in_callback = false;
    auto body = [&]() -> aio::Task<> {
        auto t = aio::create_task(value_after(7, 5ms));
        t.add_done_callback([&, t](auto&&...) {
            done_in_callback = t.done();
            log.push_back("callback");
        });
        log.push_back("registered");
        co_await t;
        log.push_back("awaited");
        co_await aio::sleep(0s);
        co_await aio::sleep(0s);
        log.push_back("end");
    };
    aio::run(body(), virtual_time());
    REQUIRE(done_in_callback);
    REQUIRE(log.size() == 4);
    REQUIRE(log.front() == "registered");
    REQUIRE(log.back() == "end");
    REQUIRE(std::count(log.begin(), log.end(), "callback") == 1);
}

TEST_CASE("add_done_callback on a finished task is scheduled, not called inline (asyncio)",
          "[task][callbacks]") {
    Log log;
    auto body = [&]() -> aio::Task<> {
        auto t = aio::create_task(immediate_value(1));
        co_await t;
        t.add_done_callback([&](auto&&...) { log.push_back("callback"); });
        log.push_back("after add_done_callback");
        co_await aio::sleep(0s);
        log.push_back("after yield");
    };
    aio::run(body());
    REQUIRE(log == Log{"after add_done_callback", "callback", "after yield"});
}

TEST_CASE("several done callbacks run in registration order", "[task][callbacks]") {
    std::string order;
    auto body = [&]() -> aio::Task<> {
        auto t = aio::create_task(value_after(1, 1ms));
        t.add_done_callback([&](auto&&...) { order += '1'; });
        t.add_done_callback([&](auto&&...) { order += '2'; });
        t.add_done_callback([&](auto&&...) { order += '3'; });
        co_await t;
        co_await aio::sleep(1ms);
    };
    aio::run(body(), virtual_time());
    REQUIRE(order == "123");
}

// ---------------------------------------------------------------- introspection

TEST_CASE("current_task() has the running task's name empty in callbacks, an error without a loop", "[task][introspection]") {
    // No running loop: RuntimeError, as asyncio.current_task(); in a callback: empty.
    REQUIRE(aio_test::runtime_error_of([] { (void)aio::current_task(); }).find("no running event loop") != std::string::npos);

    std::string in_task, in_lazy_child, main_name;
    bool empty_in_callback = false;
    auto lazy_child = [&]() -> aio::Task<> {
        in_lazy_child = aio::current_task().get_name();
        co_return;
    };
    auto named = [&]() -> aio::Task<> {
        in_task = aio::current_task().get_name();
        co_await lazy_child();
    };
    auto body = [&]() -> aio::Task<> {
        REQUIRE(aio::current_task().valid());
        main_name = aio::current_task().get_name();
        aio::get_running_loop().call_soon([&] { empty_in_callback = !aio::current_task().valid(); });
        auto t = aio::create_task(named(), "the-worker");
        co_await t;
        REQUIRE(aio::current_task().get_name() == main_name);
    };
    aio::run(body());
    REQUIRE(in_task == "the-worker");
    REQUIRE(in_lazy_child == "the-worker");  // a lazy child runs inside its awaiter's task
    REQUIRE_FALSE(main_name.empty());
    REQUIRE(empty_in_callback);
    REQUIRE(aio_test::runtime_error_of([] { (void)aio::current_task(); }).find("no running event loop") != std::string::npos);
}

TEST_CASE("all_tasks() lists the loop's pending tasks", "[task][introspection]") {
    std::vector<std::string> during, after;
    std::string main_name;
    auto names = [] {
        std::vector<std::string> out;
        for (auto& t : aio::all_tasks()) {
            out.push_back(t.get_name());
        }
        std::sort(out.begin(), out.end());
        return out;
    };
    auto body = [&]() -> aio::Task<> {
        main_name = aio::current_task().get_name();
        auto a = aio::create_task(value_after(1, 1h), "alpha");
        auto b = aio::create_task(value_after(2, 2h), "beta");
        auto c = aio::create_task(immediate_value(3), "gamma");
        co_await c;
        co_await aio::sleep(0s);
        during = names();
        for (auto& t : aio::all_tasks()) REQUIRE_FALSE(t.done());
        co_await a;
        co_await b;
        after = names();
    };
    aio::run(body(), virtual_time());
    auto has = [](const std::vector<std::string>& v, const std::string& n) {
        return std::find(v.begin(), v.end(), n) != v.end();
    };
    REQUIRE(has(during, "alpha"));
    REQUIRE(has(during, "beta"));
    REQUIRE_FALSE(has(during, "gamma"));  // finished
    REQUIRE(has(during, main_name));      // the running task is not finished either
    REQUIRE_FALSE(has(after, "alpha"));
    REQUIRE_FALSE(has(after, "beta"));
}

// ---------------------------------------------------------------- awaiting

TEST_CASE("several tasks awaiting the same task each get the result", "[task]") {
    auto body = [&]() -> aio::Task<int> {
        auto shared = aio::create_task(value_after(42, 10ms));
        auto w1 = aio::create_task(await_int(shared));
        auto w2 = aio::create_task(await_int(shared));
        auto w3 = aio::create_task(await_int(shared));
        int direct = co_await shared;
        int sum = direct + co_await w1 + co_await w2 + co_await w3;
        // awaiting a finished task again gives the result at once
        auto copy = shared;
        sum += co_await copy;
        co_return sum;
    };
    REQUIRE(aio::run(body(), virtual_time()) == 5 * 42);
}

TEST_CASE("awaiting an empty Task throws InvalidStateError with a clear message", "[task][errors]") {
    aio::Task<int> empty;
    REQUIRE_FALSE(empty.valid());
    std::string msg;
    bool threw = false;
    auto body = [&]() -> aio::Task<> {
        try {
            (void)co_await empty;
        } catch (const aio::InvalidStateError& e) {
            threw = true;
            msg = e.what();
        }
    };
    aio::run(body());
    REQUIRE(threw);
    REQUIRE_THAT(msg, Catch::Contains("empty", Catch::CaseSensitive::No) ||
                          Catch::Contains("valid", Catch::CaseSensitive::No) ||
                          Catch::Contains("default", Catch::CaseSensitive::No));
}

TEST_CASE("Task handles are cheap copies of the same task", "[task]") {
    auto body = [&]() -> aio::Task<> {
        auto t = aio::create_task(value_after(9, 1ms), "orig");
        aio::Task<int> copy = t;
        copy.set_name("shared-name");
        REQUIRE(t.get_name() == "shared-name");
        co_await copy;
        REQUIRE(t.done());
        REQUIRE(t.result() == 9);
    };
    aio::run(body(), virtual_time());
}

// ---------------------------------------------------------------- stack depth

namespace {
aio::Task<int> parity(int i) { co_return i & 1; }
aio::Task<> nothing() { co_return; }

aio::Task<long long> sum_sequential(int n) {
    long long sum = 0;
    for (int i = 0; i < n; ++i) sum += co_await parity(i);
    co_return sum;
}

aio::Task<int> void_sequential(int n) {
    for (int i = 0; i < n; ++i) co_await nothing();
    co_return n;
}

aio::Task<int> nested(int depth) {
    if (depth == 0) co_return 0;
    co_return 1 + co_await nested(depth - 1);
}
} // namespace

TEST_CASE("1,000,000 sequential co_awaits of synchronously completing tasks do not overflow the stack",
          "[task][stack]") {
    REQUIRE(aio::run(sum_sequential(1'000'000)) == 500'000);
    REQUIRE(aio::run(void_sequential(1'000'000)) == 1'000'000);
}

TEST_CASE("a deep chain of nested lazy awaits works", "[task][stack]") {
    REQUIRE(aio::run(nested(1'000)) == 1'000);
}
