// Tests for aio::EventLoop and aio::Handle (include/aio/event_loop.hpp, handle.hpp).
#include <aio/event_loop.hpp>
#include <aio/handle.hpp>
#include <aio/aio.hpp>

#include "catch.hpp"
#include "counted.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using aio_test::Counted;

namespace {

aio::LoopOptions virtual_time() {
    aio::LoopOptions o;
    o.virtual_time = true;
    return o;
}

aio::Task<> noop() { co_return; }

aio::Task<int> value_after(int v, aio::Clock::duration d) {
    co_await aio::sleep(d);
    co_return v;
}

aio::Task<> sleep_forever(Counted) {
    Counted local;
    co_await aio::sleep(24h * 365);
}

aio::Task<> await_task(aio::Task<> t, Counted) {
    Counted local;
    co_await t;
}

aio::Task<int> lazy_leaf(Counted) {
    Counted local;
    co_await aio::sleep(24h * 365);
    co_return 1;
}

aio::Task<int> lazy_middle(Counted) {
    Counted local;
    co_return 1 + co_await lazy_leaf(Counted{});
}

aio::Task<int> lazy_top(Counted) {
    Counted local;
    co_return 1 + co_await lazy_middle(Counted{});
}

aio::Task<> never_started(Counted, bool& ran) {
    ran = true;
    co_return;
}

// Creates a web of pending tasks on the running loop and returns once every one
// of them is suspended.
aio::Task<> make_pending_web(bool& never_ran) {
    auto sleeper = aio::create_task(sleep_forever(Counted{}), "sleeper");
    (void)aio::create_task(await_task(sleeper, Counted{}), "awaits-sleeper");
    (void)aio::create_task(await_task(sleeper, Counted{}), "awaits-sleeper-too");
    (void)aio::create_task(lazy_top(Counted{}), "lazy-chain");
    co_await aio::sleep(1ms);
    // Created last, cancelled/destroyed before it ever runs.
    (void)aio::create_task(never_started(Counted{}, never_ran), "never-started");
}

std::string what_of(const std::exception_ptr& p) {
    try {
        if (p) std::rethrow_exception(p);
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return "<non-std exception>";
    }
    return "<null>";
}

} // namespace

TEST_CASE("call_soon runs callbacks in FIFO order", "[event_loop]") {
    aio::EventLoop loop;
    std::string order;
    for (char c : std::string("abcdefgh"))
        loop.call_soon([&order, c] { order += c; });
    loop.call_soon([&] { loop.stop(); });
    loop.run_forever();
    REQUIRE(order == "abcdefgh");
    REQUIRE_FALSE(loop.is_running());
    REQUIRE_FALSE(loop.is_closed());
}

TEST_CASE("a callback scheduled by a running callback runs after everything already queued",
          "[event_loop]") {
    aio::EventLoop loop;
    std::string order;
    loop.call_soon([&] {
        order += 'a';
        loop.call_soon([&] {
            order += 'A';
            loop.stop();
        });
    });
    loop.call_soon([&] { order += 'b'; });
    loop.call_soon([&] { order += 'c'; });
    loop.run_forever();
    REQUIRE(order == "abcA");
}

TEST_CASE("callbacks added while running go to the next turn: stop() ends the current batch first",
          "[event_loop]") {
    // asyncio: "If stop() is called while run_forever() is running, this will run the
    // current batch of callbacks and then exit. New callbacks scheduled by callbacks
    // will not run in this case; they run the next time run_forever() is called."
    aio::EventLoop loop;
    std::string order;
    loop.call_soon([&] {
        order += 'a';
        loop.call_soon([&] { order += 'A'; });
    });
    loop.call_soon([&] {
        order += 'b';
        loop.stop();
    });
    loop.call_soon([&] { order += 'c'; });
    loop.run_forever();
    REQUIRE(order == "abc");

    loop.call_soon([&] { loop.stop(); });
    loop.run_forever();
    REQUIRE(order == "abcA");
}

TEST_CASE("equal-deadline timers fire in the order they were scheduled", "[event_loop][timers]") {
    aio::EventLoop loop(virtual_time());
    std::string order;
    auto when = loop.time() + 10ms;
    loop.call_at(when + 1ms, [&] {
        order += 'z';
        loop.stop();
    });
    loop.call_at(when, [&] { order += 'a'; });
    loop.call_at(when, [&] { order += 'b'; });
    loop.call_at(when - 1ms, [&] { order += '0'; });
    loop.call_at(when, [&] { order += 'c'; });
    loop.run_forever();
    REQUIRE(order == "0abcz");
}

TEST_CASE("many equal-deadline timers keep their scheduling order", "[event_loop][timers]") {
    aio::EventLoop loop(virtual_time());
    std::vector<int> fired;
    auto when = loop.time() + 5ms;
    // Interleave other deadlines so the heap really has to reorder things.
    for (int i = 0; i < 200; ++i) {
        loop.call_at(when, [&fired, i] { fired.push_back(i); });
        loop.call_at(when + std::chrono::milliseconds(1 + i % 7), [] {});
    }
    loop.call_at(when + 1s, [&] { loop.stop(); });
    loop.run_forever();
    REQUIRE(fired.size() == 200);
    for (int i = 0; i < 200; ++i) REQUIRE(fired[static_cast<std::size_t>(i)] == i);
}

TEST_CASE("call_later with the same delay inside one callback fires in scheduling order",
          "[event_loop][timers]") {
    aio::EventLoop loop(virtual_time());
    std::string order;
    loop.call_soon([&] {
        loop.call_later(5ms, [&] { order += 'x'; });
        loop.call_later(5ms, [&] { order += 'y'; });
        loop.call_later(5ms, [&] { order += 'z'; });
        loop.call_later(6ms, [&] { loop.stop(); });
    });
    loop.run_forever();
    REQUIRE(order == "xyz");
}

TEST_CASE("negative delays fire in deadline order", "[event_loop][timers]") {
    aio::EventLoop loop(virtual_time());
    std::string order;
    loop.call_soon([&] {
        loop.call_later(-1ms, [&] { order += '1'; });
        loop.call_later(-2ms, [&] { order += '2'; });
        loop.call_later(0ms, [&] { order += '0'; });
        loop.call_later(-3ms, [&] { order += '3'; });
        loop.call_later(1ms, [&] { loop.stop(); });
    });
    loop.run_forever();
    REQUIRE(order == "3210");
}

TEST_CASE("timers fire in deadline order, not scheduling order", "[event_loop][timers]") {
    aio::EventLoop loop(virtual_time());
    std::vector<std::string> order;
    auto t0 = loop.time();
    std::vector<aio::Clock::duration> fired_at;
    loop.call_later(30min, [&] {
        order.push_back("30min");
        fired_at.push_back(loop.time() - t0);
    });
    loop.call_later(1h, [&] {
        order.push_back("1h");
        fired_at.push_back(loop.time() - t0);
        loop.stop();
    });
    loop.call_later(10min, [&] {
        order.push_back("10min");
        fired_at.push_back(loop.time() - t0);
    });
    auto real0 = std::chrono::steady_clock::now();
    loop.run_forever();
    REQUIRE(std::chrono::steady_clock::now() - real0 < 5s);
    REQUIRE(order == std::vector<std::string>{"10min", "30min", "1h"});
    REQUIRE(fired_at.size() == 3);
    REQUIRE(fired_at[0] >= 10min);
    REQUIRE(fired_at[1] >= 30min);
    REQUIRE(fired_at[2] >= 1h);
    REQUIRE(fired_at[2] < 1h + 1s);
}

TEST_CASE("Handle::cancel prevents the callback and cancelled() becomes true", "[event_loop][handle]") {
    aio::EventLoop loop(virtual_time());
    std::string order;
    auto soon = loop.call_soon([&] { order += "soon"; });
    auto later = loop.call_later(1ms, [&] { order += "later"; });
    auto at = loop.call_at(loop.time() + 2ms, [&] { order += "at"; });
    REQUIRE_FALSE(soon.cancelled());
    REQUIRE_FALSE(later.cancelled());
    REQUIRE_FALSE(at.cancelled());
    soon.cancel();
    later.cancel();
    at.cancel();
    REQUIRE(soon.cancelled());
    REQUIRE(later.cancelled());
    REQUIRE(at.cancelled());
    loop.call_soon([&] { order += "kept;"; });
    loop.call_later(5ms, [&] { loop.stop(); });
    loop.run_forever();
    REQUIRE(order == "kept;");
}

TEST_CASE("Handle::cancel from an earlier callback of the same turn stops a queued callback",
          "[event_loop][handle]") {
    aio::EventLoop loop;
    std::string order;
    aio::Handle victim;
    loop.call_soon([&] {
        order += 'a';
        victim.cancel();
    });
    victim = loop.call_soon([&] { order += 'v'; });
    loop.call_soon([&] {
        order += 'c';
        loop.stop();
    });
    loop.run_forever();
    REQUIRE(order == "ac");
    REQUIRE(victim.cancelled());
}

TEST_CASE("loop.time() is constant within one callback turn", "[event_loop][time]") {
    aio::EventLoop loop;  // the real clock: time really passes during the callback
    aio::Clock::time_point t1{}, t2{}, next_turn{};
    loop.call_soon([&] {
        t1 = loop.time();
        std::this_thread::sleep_for(20ms);
        t2 = loop.time();
        loop.call_soon([&] {
            next_turn = loop.time();
            loop.stop();
        });
    });
    loop.run_forever();
    REQUIRE(t1 == t2);
    REQUIRE(next_turn - t1 >= 20ms);  // the next turn sees the time that passed
}

TEST_CASE("loop.time() is constant within one task step", "[event_loop][time]") {
    aio::EventLoop loop;
    auto body = [&]() -> aio::Task<bool> {
        auto a = loop.time();
        std::this_thread::sleep_for(20ms);
        auto b = loop.time();
        co_return a == b;
    };
    REQUIRE(loop.run_until_complete(body()));
}

TEST_CASE("virtual time: sleep(1h) completes at once and advances loop.time() by at least 1h",
          "[event_loop][time][virtual]") {
    aio::EventLoop loop(virtual_time());
    auto body = [&]() -> aio::Task<aio::Clock::duration> {
        auto t0 = loop.time();
        co_await aio::sleep(1h);
        co_return loop.time() - t0;
    };
    auto real0 = std::chrono::steady_clock::now();
    auto advanced = loop.run_until_complete(body());
    auto real = std::chrono::steady_clock::now() - real0;
    REQUIRE(advanced >= 1h);
    REQUIRE(advanced < 1h + 1s);
    REQUIRE(real < 5s);
}

TEST_CASE("an exception escaping a callback goes to the exception handler and the loop keeps running",
          "[event_loop][errors]") {
    aio::EventLoop loop;
    std::vector<std::string> seen;
    std::vector<std::string> messages;
    aio::EventLoop* handler_loop = nullptr;
    loop.set_exception_handler([&](aio::EventLoop& l, const aio::ExceptionContext& ctx) {
        handler_loop = &l;
        seen.push_back(what_of(ctx.exception));
        messages.push_back(ctx.message);
    });
    std::string order;
    loop.call_soon([&] {
        order += 'a';
        throw std::runtime_error("boom in call_soon");
    });
    loop.call_soon([&] { order += 'b'; });
    loop.call_later(1ms, [&] {
        order += 't';
        throw std::logic_error("boom in call_later");
    });
    loop.call_later(20ms, [&] {
        order += 'z';
        loop.stop();
    });
    loop.run_forever();
    REQUIRE(order == "abtz");
    REQUIRE(seen == std::vector<std::string>{"boom in call_soon", "boom in call_later"});
    REQUIRE(handler_loop == &loop);
    REQUIRE(messages.size() == 2);
    REQUIRE_FALSE(messages[0].empty());
}

TEST_CASE("call_exception_handler calls the installed handler", "[event_loop][errors]") {
    aio::EventLoop loop;
    std::string got;
    loop.set_exception_handler(
        [&](aio::EventLoop&, const aio::ExceptionContext& ctx) { got = ctx.message + "|" + ctx.task_name; });
    aio::ExceptionContext ctx;
    ctx.message = "something odd";
    ctx.task_name = "Task-x";
    loop.call_exception_handler(ctx);
    REQUIRE(got == "something odd|Task-x");
}

TEST_CASE("the default exception handler reports to stderr and the loop keeps running",
          "[event_loop][errors]") {
    std::FILE* capture = std::tmpfile();
    REQUIRE(capture != nullptr);
    std::fflush(stderr);
    int saved = ::dup(2);
    REQUIRE(saved >= 0);
    ::dup2(::fileno(capture), 2);

    std::string order;
    {
        aio::EventLoop loop;
        loop.call_soon([&] {
            order += 'a';
            throw std::runtime_error("default-handler-boom");
        });
        loop.call_soon([&] {
            order += 'b';
            loop.stop();
        });
        loop.run_forever();
    }

    std::fflush(stderr);
    ::dup2(saved, 2);
    ::close(saved);
    std::rewind(capture);
    std::string text;
    char buf[1024];
    while (auto n = std::fread(buf, 1, sizeof buf, capture)) text.append(buf, n);
    std::fclose(capture);

    REQUIRE(order == "ab");
    REQUIRE_THAT(text, Catch::Contains("default-handler-boom"));
}

TEST_CASE("is_running, get_running_loop and get_event_loop while the loop runs", "[event_loop]") {
    aio::EventLoop loop;
    REQUIRE_FALSE(loop.is_running());
    REQUIRE_THROWS_AS(aio::get_running_loop(), aio::RuntimeError);
    REQUIRE_THROWS_WITH(aio::get_running_loop(), Catch::Contains("no running event loop"));

    bool running_in_callback = false;
    aio::EventLoop* running_loop = nullptr;
    loop.call_soon([&] {
        running_in_callback = loop.is_running();
        running_loop = &aio::get_running_loop();
        loop.stop();
    });
    loop.run_forever();
    REQUIRE(running_in_callback);
    REQUIRE(running_loop == &loop);
    REQUIRE_FALSE(loop.is_running());

    aio::EventLoop* current_in_task = nullptr;
    aio::EventLoop* running_in_task = nullptr;
    auto body = [&]() -> aio::Task<> {
        current_in_task = aio::get_event_loop();
        running_in_task = &aio::get_running_loop();
        co_return;
    };
    aio::EventLoop* const before = aio::get_event_loop();
    aio::set_event_loop(nullptr);
    loop.run_until_complete(body());
    REQUIRE(current_in_task == &loop);
    REQUIRE(running_in_task == &loop);
    REQUIRE_THROWS_AS(aio::get_running_loop(), aio::RuntimeError);
    // "makes this loop the thread's current loop while it runs": restored afterwards
    REQUIRE(aio::get_event_loop() == nullptr);
    aio::set_event_loop(before);
}

TEST_CASE("run_until_complete returns the result and can be called repeatedly", "[event_loop]") {
    aio::EventLoop loop(virtual_time());
    REQUIRE(loop.run_until_complete(value_after(1, 1ms)) == 1);
    REQUIRE(loop.run_until_complete(value_after(2, 1h)) == 2);
    loop.run_until_complete(noop());
    REQUIRE_FALSE(loop.is_running());
}

TEST_CASE("run_until_complete rethrows the task's exception", "[event_loop][errors]") {
    aio::EventLoop loop;
    auto failing = []() -> aio::Task<int> {
        throw std::out_of_range("index 7 out of range");
        co_return 0;
    };
    REQUIRE_THROWS_AS(loop.run_until_complete(failing()), std::out_of_range);
    REQUIRE_THROWS_WITH(loop.run_until_complete(failing()), "index 7 out of range");
    // the loop is still usable
    REQUIRE(loop.run_until_complete(value_after(3, 0s)) == 3);
}

TEST_CASE("loop.create_task before the loop runs, run_until_complete accepts a scheduled task",
          "[event_loop]") {
    aio::EventLoop loop(virtual_time());
    auto t = loop.create_task(value_after(42, 10ms), "made-early");
    REQUIRE(t.valid());
    REQUIRE_FALSE(t.done());
    REQUIRE(t.get_name() == "made-early");
    REQUIRE(loop.run_until_complete(t) == 42);
    REQUIRE(t.done());
    REQUIRE(t.result() == 42);
}

TEST_CASE("run_until_complete / run_forever on a running loop throw RuntimeError", "[event_loop][errors]") {
    aio::EventLoop loop;
    bool nested_ruc_threw = false, nested_rf_threw = false;
    loop.call_soon([&] {
        try {
            loop.run_until_complete(noop());
        } catch (const aio::RuntimeError&) {
            nested_ruc_threw = true;
        }
        try {
            loop.run_forever();
        } catch (const aio::RuntimeError&) {
            nested_rf_threw = true;
        }
        loop.stop();
    });
    loop.run_forever();
    REQUIRE(nested_ruc_threw);
    REQUIRE(nested_rf_threw);
}

TEST_CASE("close() on a running loop throws RuntimeError", "[event_loop][errors]") {
    aio::EventLoop loop;
    bool threw = false;
    loop.call_soon([&] {
        try {
            loop.close();
        } catch (const aio::RuntimeError&) {
            threw = true;
        }
        loop.stop();
    });
    loop.run_forever();
    REQUIRE(threw);
    REQUIRE_FALSE(loop.is_closed());
}

TEST_CASE("a loop used after close() throws RuntimeError", "[event_loop][errors]") {
    aio::EventLoop loop;
    REQUIRE_FALSE(loop.is_closed());
    loop.close();
    REQUIRE(loop.is_closed());
    REQUIRE_NOTHROW(loop.close());  // closing twice is harmless, as in asyncio
    REQUIRE_THROWS_AS(loop.call_soon([] {}), aio::RuntimeError);
    REQUIRE_THROWS_WITH(loop.call_soon([] {}), Catch::Contains("closed"));
    REQUIRE_THROWS_AS(loop.call_later(1ms, [] {}), aio::RuntimeError);
    REQUIRE_THROWS_AS(loop.call_at(aio::Clock::now(), [] {}), aio::RuntimeError);
    REQUIRE_THROWS_AS(loop.run_forever(), aio::RuntimeError);
    REQUIRE_THROWS_AS(loop.run_until_complete(noop()), aio::RuntimeError);
    REQUIRE_THROWS_AS(loop.create_task(noop()), aio::RuntimeError);
}

TEST_CASE("debug flag: LoopOptions and set_debug/get_debug", "[event_loop]") {
    aio::EventLoop plain;
    REQUIRE_FALSE(plain.get_debug());
    plain.set_debug(true);
    REQUIRE(plain.get_debug());
    plain.set_debug(false);
    REQUIRE_FALSE(plain.get_debug());

    aio::LoopOptions o;
    o.debug = true;
    aio::EventLoop debug_loop(o);
    REQUIRE(debug_loop.get_debug());
}

TEST_CASE("destroying a loop with pending tasks frees every coroutine frame", "[event_loop][lifetime]") {
    aio_test::CountedBaseline baseline;
    bool never_ran = false;
    SECTION("destroyed without close()") {
        {
            aio::EventLoop loop(virtual_time());
            loop.set_exception_handler([](aio::EventLoop&, const aio::ExceptionContext&) {});
            loop.run_until_complete(make_pending_web(never_ran));
            REQUIRE(Counted::live() > baseline.at_start);  // they really are pending
        }
        REQUIRE(baseline.leaked() == 0);
    }
    SECTION("close() then destroyed") {
        {
            aio::EventLoop loop(virtual_time());
            loop.set_exception_handler([](aio::EventLoop&, const aio::ExceptionContext&) {});
            loop.run_until_complete(make_pending_web(never_ran));
            loop.close();
        }
        REQUIRE(baseline.leaked() == 0);
    }
    SECTION("a handle that outlives the loop can still be dropped safely") {
        aio::Task<> kept;
        {
            aio::EventLoop loop(virtual_time());
            loop.set_exception_handler([](aio::EventLoop&, const aio::ExceptionContext&) {});
            kept = loop.create_task(sleep_forever(Counted{}), "kept");
            loop.run_until_complete(make_pending_web(never_ran));
        }
        kept = aio::Task<>{};
        REQUIRE(baseline.leaked() == 0);
    }
    REQUIRE_FALSE(never_ran);
}

TEST_CASE("finished tasks free their frames", "[event_loop][lifetime]") {
    aio_test::CountedBaseline baseline;
    {
        aio::EventLoop loop(virtual_time());
        auto body = [&]() -> aio::Task<int> {
            Counted c;
            auto a = aio::create_task(value_after(1, 1ms));
            auto b = aio::create_task(value_after(2, 2ms));
            co_return co_await a + co_await b;
        };
        REQUIRE(loop.run_until_complete(body()) == 3);
        REQUIRE(baseline.leaked() == 0);
    }
    REQUIRE(baseline.leaked() == 0);
}
