// Tests for aio::sleep (include/aio/sleep.hpp).
#include <aio/sleep.hpp>
#include <aio/aio.hpp>

#include "catch.hpp"

#include <chrono>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using Log = std::vector<std::string>;

namespace {

aio::RunOptions virtual_time() {
    aio::RunOptions o;
    o.virtual_time = true;
    return o;
}

aio::Task<> append_three(std::string& out, char c) {
    for (int i = 0; i < 3; ++i) {
        out += c;
        co_await aio::sleep(0s);
    }
}

aio::Task<> sleep_then_log(Log& log, std::string name, aio::Clock::duration d) {
    co_await aio::sleep(d);
    log.push_back(name);
}

} // namespace

TEST_CASE("sleep(0s) round-robin: two tasks give ababab", "[sleep]") {
    std::string out;
    auto body = [&]() -> aio::Task<> {
        auto a = aio::create_task(append_three(out, 'a'));
        auto b = aio::create_task(append_three(out, 'b'));
        co_await a;
        co_await b;
    };
    aio::run(body());
    REQUIRE(out == "ababab");
}

TEST_CASE("sleep(0s) round-robin with virtual time too", "[sleep][virtual]") {
    std::string out;
    auto body = [&]() -> aio::Task<> {
        auto a = aio::create_task(append_three(out, 'a'));
        auto b = aio::create_task(append_three(out, 'b'));
        auto c = aio::create_task(append_three(out, 'c'));
        co_await a;
        co_await b;
        co_await c;
    };
    aio::run(body(), virtual_time());
    REQUIRE(out == "abcabcabc");
}

TEST_CASE("sleep(0s) yields to every task already ready, once", "[sleep]") {
    Log log;
    auto step = [&](std::string name) -> aio::Task<> {
        log.push_back(name + "1");
        co_await aio::sleep(0s);
        log.push_back(name + "2");
    };
    auto body = [&]() -> aio::Task<> {
        auto b = aio::create_task(step("b"));
        auto c = aio::create_task(step("c"));
        log.push_back("main1");
        co_await aio::sleep(0s);
        log.push_back("main2");
        co_await b;
        co_await c;
    };
    aio::run(body());
    REQUIRE(log == Log{"main1", "b1", "c1", "main2", "b2", "c2"});
}

TEST_CASE("sleeps finish in deadline order (virtual time)", "[sleep][virtual]") {
    Log log;
    aio::Clock::duration elapsed{};
    auto body = [&]() -> aio::Task<> {
        auto& loop = aio::get_running_loop();
        auto t0 = loop.time();
        auto a = aio::create_task(sleep_then_log(log, "30ms", 30ms));
        auto b = aio::create_task(sleep_then_log(log, "10ms", 10ms));
        auto c = aio::create_task(sleep_then_log(log, "20ms", 20ms));
        auto d = aio::create_task(sleep_then_log(log, "0s", 0s));
        co_await a;
        co_await b;
        co_await c;
        co_await d;
        elapsed = loop.time() - t0;
    };
    aio::run(body(), virtual_time());
    REQUIRE(log == Log{"0s", "10ms", "20ms", "30ms"});
    REQUIRE(elapsed >= 30ms);
    REQUIRE(elapsed < 31ms);
}

TEST_CASE("sleeps finish in deadline order (real clock)", "[sleep][realtime]") {
    Log log;
    aio::Clock::duration elapsed{};
    auto body = [&]() -> aio::Task<> {
        auto& loop = aio::get_running_loop();
        auto t0 = loop.time();
        auto a = aio::create_task(sleep_then_log(log, "60ms", 60ms));
        auto b = aio::create_task(sleep_then_log(log, "20ms", 20ms));
        auto c = aio::create_task(sleep_then_log(log, "40ms", 40ms));
        co_await a;
        co_await b;
        co_await c;
        elapsed = loop.time() - t0;
    };
    auto real0 = std::chrono::steady_clock::now();
    aio::run(body());
    auto real = std::chrono::steady_clock::now() - real0;
    REQUIRE(log == Log{"20ms", "40ms", "60ms"});
    REQUIRE(elapsed >= 60ms);
    REQUIRE(real >= 60ms);
    REQUIRE(real < 5s);
}

TEST_CASE("sleep(1h) with virtual time completes at once", "[sleep][virtual]") {
    aio::Clock::duration elapsed{};
    auto body = [&]() -> aio::Task<> {
        auto& loop = aio::get_running_loop();
        auto t0 = loop.time();
        co_await aio::sleep(1h);
        co_await aio::sleep(1h);
        elapsed = loop.time() - t0;
    };
    auto real0 = std::chrono::steady_clock::now();
    aio::run(body(), virtual_time());
    REQUIRE(std::chrono::steady_clock::now() - real0 < 5s);
    REQUIRE(elapsed >= 2h);
    REQUIRE(elapsed < 2h + 1s);
}

TEST_CASE("a real sleep waits at least the requested time", "[sleep][realtime]") {
    aio::Clock::duration loop_elapsed{};
    auto body = [&]() -> aio::Task<> {
        auto& loop = aio::get_running_loop();
        auto t0 = loop.time();
        co_await aio::sleep(50ms);
        loop_elapsed = loop.time() - t0;
    };
    auto real0 = std::chrono::steady_clock::now();
    aio::run(body());
    auto real = std::chrono::steady_clock::now() - real0;
    REQUIRE(loop_elapsed >= 50ms);
    REQUIRE(real >= 50ms);
    REQUIRE(real < 5s);
}

TEST_CASE("a negative sleep behaves like sleep(0s)", "[sleep]") {
    std::string out;
    auto neg = [&](char c) -> aio::Task<> {
        for (int i = 0; i < 2; ++i) {
            out += c;
            co_await aio::sleep(-5ms);
        }
    };
    auto body = [&]() -> aio::Task<> {
        auto a = aio::create_task(neg('a'));
        auto b = aio::create_task(neg('b'));
        co_await a;
        co_await b;
    };
    aio::run(body(), virtual_time());
    REQUIRE(out == "abab");
}

TEST_CASE("sleep is lazy: an unawaited sleep schedules no timer", "[sleep][virtual]") {
    aio::Clock::duration elapsed{};
    auto body = [&]() -> aio::Task<> {
        auto& loop = aio::get_running_loop();
        auto t0 = loop.time();
        {
            auto never_awaited = aio::sleep(1h);
            (void)never_awaited;
        }
        [[maybe_unused]] auto kept = aio::sleep(2h);  // alive, but never awaited either
        co_await aio::sleep(1ms);
        elapsed = loop.time() - t0;
    };
    aio::run(body(), virtual_time());
    REQUIRE(elapsed >= 1ms);
    REQUIRE(elapsed < 1h);
}

TEST_CASE("sleep can run as a task of its own", "[sleep]") {
    aio::Clock::duration elapsed{};
    auto body = [&]() -> aio::Task<> {
        auto& loop = aio::get_running_loop();
        auto t0 = loop.time();
        auto s = aio::create_task(aio::sleep(3h));
        co_await s;
        REQUIRE(s.done());
        elapsed = loop.time() - t0;
    };
    aio::run(body(), virtual_time());
    REQUIRE(elapsed >= 3h);
}
