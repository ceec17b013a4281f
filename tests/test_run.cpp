// Tests for aio::run (include/aio/run.hpp).
#include <aio/run.hpp>
#include <aio/aio.hpp>

#include "catch.hpp"
#include "counted.hpp"

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

using namespace std::chrono_literals;
using aio_test::Counted;
using Log = std::vector<std::string>;

namespace {

aio::RunOptions virtual_time() {
    aio::RunOptions o;
    o.virtual_time = true;
    return o;
}

aio::Task<int> value_after(int v, aio::Clock::duration d) {
    co_await aio::sleep(d);
    co_return v;
}

struct OnExit {
    Log& log;
    std::string what;
    ~OnExit() { log.push_back(what); }
};

aio::Task<> leftover(Log& log, Counted = {}) {
    OnExit cleanup{log, "leftover cleanup"};
    try {
        co_await aio::sleep(1h);
        log.push_back("leftover woke");
    } catch (const aio::CancelledError&) {
        log.push_back("leftover cancelled");
        throw;
    }
}

aio::Task<> graceful(Log& log, Counted = {}) {
    try {
        co_await aio::sleep(1h);
    } catch (const aio::CancelledError&) {
        log.push_back("graceful cancelled");
    }
    co_await aio::sleep(10ms);  // some async cleanup after the cancellation
    log.push_back("graceful cleanup done");
}

aio::Task<> never_started(bool& ran, Counted = {}) {
    ran = true;
    co_return;
}

} // namespace

TEST_CASE("aio::run returns the main task's result", "[run]") {
    REQUIRE(aio::run(value_after(42, 1ms)) == 42);
    auto make = []() -> aio::Task<std::string> { co_return "hello"; };
    REQUIRE(aio::run(make()) == "hello");
}

TEST_CASE("aio::run returns a move-only result", "[run]") {
    auto ptr = []() -> aio::Task<std::unique_ptr<int>> { co_return std::make_unique<int>(3); };
    auto p = aio::run(ptr());
    REQUIRE(p);
    REQUIRE(*p == 3);
}

TEST_CASE("aio::run returns a reference result", "[run]") {
    static int target = 0;
    auto ref = []() -> aio::Task<int&> { co_return target; };
    int& r = aio::run(ref());
    REQUIRE(&r == &target);
}

TEST_CASE("aio::run with Task<void>", "[run]") {
    bool ran = false;
    auto body = [&]() -> aio::Task<> {
        co_await aio::sleep(0s);
        ran = true;
    };
    aio::run(body());
    REQUIRE(ran);
}

TEST_CASE("aio::run rethrows the main task's exception", "[run][errors]") {
    auto failing = []() -> aio::Task<int> {
        co_await aio::sleep(1ms);
        throw std::invalid_argument("main failed on purpose");
    };
    REQUIRE_THROWS_AS(aio::run(failing()), std::invalid_argument);
    REQUIRE_THROWS_WITH(aio::run(failing()), "main failed on purpose");
}

TEST_CASE("aio::run runs main as a task on a fresh running loop", "[run]") {
    aio::EventLoop* running = nullptr;
    aio::EventLoop* current = nullptr;
    bool is_task = false;
    auto body = [&]() -> aio::Task<> {
        running = &aio::get_running_loop();
        current = aio::get_event_loop();
        is_task = aio::current_task().valid();
        co_return;
    };
    aio::run(body());
    REQUIRE(running != nullptr);
    REQUIRE(current == running);
    REQUIRE(is_task);
    REQUIRE_THROWS_AS(aio::get_running_loop(), aio::RuntimeError);
}

TEST_CASE("aio::run restores the thread's previous current loop", "[run]") {
    aio::EventLoop* const before = aio::get_event_loop();
    aio::EventLoop mine;
    aio::set_event_loop(&mine);
    aio::EventLoop* inside = nullptr;
    auto body = [&]() -> aio::Task<> {
        inside = aio::get_event_loop();
        co_return;
    };
    aio::run(body());
    REQUIRE(inside != nullptr);
    REQUIRE(inside != &mine);
    REQUIRE(aio::get_event_loop() == &mine);
    aio::set_event_loop(nullptr);
    aio::run(body());
    REQUIRE(aio::get_event_loop() == nullptr);
    aio::set_event_loop(before);
}

TEST_CASE("aio::run cancels leftover tasks and waits for them before returning", "[run][cancel]") {
    aio_test::CountedBaseline baseline;
    Log log;
    bool ran = false;
    auto body = [&]() -> aio::Task<int> {
        (void)aio::create_task(leftover(log, Counted{}));
        (void)aio::create_task(graceful(log, Counted{}));
        co_await aio::sleep(0s);  // both are now sleeping
        (void)aio::create_task(never_started(ran, Counted{}));
        log.push_back("main done");
        co_return 5;
    };
    auto real0 = std::chrono::steady_clock::now();
    REQUIRE(aio::run(body(), virtual_time()) == 5);
    REQUIRE(std::chrono::steady_clock::now() - real0 < 5s);
    // the two leftover tasks may be cancelled in either order; each one's own steps are ordered
    auto pos = [&](const std::string& s) {
        auto it = std::find(log.begin(), log.end(), s);
        REQUIRE(it != log.end());
        return it - log.begin();
    };
    REQUIRE(log.size() == 5);
    REQUIRE(log.front() == "main done");
    REQUIRE(pos("leftover cancelled") < pos("leftover cleanup"));
    REQUIRE(pos("graceful cancelled") < pos("graceful cleanup done"));
    REQUIRE(std::count(log.begin(), log.end(), "leftover woke") == 0);
    REQUIRE_FALSE(ran);
    REQUIRE(baseline.leaked() == 0);
}

TEST_CASE("aio::run cancels leftover tasks when main fails, too", "[run][cancel]") {
    Log log;
    auto body = [&]() -> aio::Task<> {
        (void)aio::create_task(leftover(log));
        co_await aio::sleep(0s);
        throw std::runtime_error("main failed");
    };
    REQUIRE_THROWS_WITH(aio::run(body(), virtual_time()), "main failed");
    REQUIRE(log == Log{"leftover cancelled", "leftover cleanup"});
}

TEST_CASE("aio::run inside a running loop throws RuntimeError", "[run][errors]") {
    std::string from_task, from_callback;
    bool loop_still_works = false;
    auto body = [&]() -> aio::Task<> {
        try {
            aio::run(value_after(1, 0s));
        } catch (const aio::RuntimeError& e) {
            from_task = e.what();
        }
        co_await aio::sleep(1ms);
        loop_still_works = true;
    };
    aio::run(body());
    REQUIRE_THAT(from_task, Catch::Contains("cannot be called from a running event loop"));
    REQUIRE(loop_still_works);

    aio::EventLoop loop;
    loop.call_soon([&] {
        try {
            aio::run(value_after(1, 0s));
        } catch (const aio::RuntimeError& e) {
            from_callback = e.what();
        }
        loop.stop();
    });
    loop.run_forever();
    REQUIRE_THAT(from_callback, Catch::Contains("cannot be called from a running event loop"));
}

TEST_CASE("aio::run can be called again after it returns", "[run]") {
    for (int i = 0; i < 5; ++i) REQUIRE(aio::run(value_after(i, 1ms), virtual_time()) == i);
}

TEST_CASE("RunOptions: virtual_time and debug", "[run]") {
    aio::Clock::duration elapsed{};
    bool debug = true;
    auto body = [&]() -> aio::Task<> {
        auto& loop = aio::get_running_loop();
        debug = loop.get_debug();
        auto t0 = loop.time();
        co_await aio::sleep(2h);
        elapsed = loop.time() - t0;
    };
    auto real0 = std::chrono::steady_clock::now();
    aio::run(body(), virtual_time());
    REQUIRE(std::chrono::steady_clock::now() - real0 < 5s);
    REQUIRE(elapsed >= 2h);
    REQUIRE_FALSE(debug);

    auto check_debug = [&]() -> aio::Task<bool> { co_return aio::get_running_loop().get_debug(); };
    aio::RunOptions dbg;
    dbg.debug = true;
    REQUIRE(aio::run(check_debug(), dbg));
    REQUIRE(aio::run(check_debug(), {.debug = true, .virtual_time = true}));
}

TEST_CASE("AIO_DEBUG=1 turns on debug mode for aio::run", "[run]") {
    auto check_debug = []() -> aio::Task<bool> { co_return aio::get_running_loop().get_debug(); };
    ::setenv("AIO_DEBUG", "1", 1);
    bool with_env = aio::run(check_debug());
    ::unsetenv("AIO_DEBUG");
    bool without_env = aio::run(check_debug());
    REQUIRE(with_env);
    REQUIRE_FALSE(without_env);
}

// ---------------------------------------------------------------- SIGINT

namespace {

// Runs in a forked child: tells the parent it is ready, then sleeps until SIGINT cancels it.
aio::Task<> interruptible_main(int report_fd) {
    const char ready = 'r';
    [[maybe_unused]] auto n = ::write(report_fd, &ready, 1);
    bool cancelled = false;
    std::string message;
    try {
        co_await aio::sleep(1h);
    } catch (const aio::CancelledError& e) {
        cancelled = true;
        message = e.message();
    }
    if (cancelled) {
        const std::string report = "cancelled:" + message;
        n = ::write(report_fd, report.data(), report.size());
        throw aio::CancelledError(message);
    }
}

} // namespace

TEST_CASE("SIGINT during aio::run cancels the main task, then ends the process by SIGINT", "[run][signal]") {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::close(fds[0]);
        std::signal(SIGINT, SIG_DFL); // Catch2 installs its own handler; a plain program has none
        try {
            aio::run(interruptible_main(fds[1]));
        } catch (...) {
        }
        ::_exit(3); // not reached: aio::run re-raises SIGINT after cleaning up
    }
    ::close(fds[1]);
    char ready = 0;
    REQUIRE(::read(fds[0], &ready, 1) == 1);
    REQUIRE(ready == 'r');
    REQUIRE(::kill(child, SIGINT) == 0);
    std::string report;
    char buf[64];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) report.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(report == "cancelled:interrupted by SIGINT");
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGINT);
}
