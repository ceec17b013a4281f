// aio::CancellableAwaiter: a user-written awaitable (as the README shows) wakes, cancels and
// survives loop close the way aio's own awaitables do.
#include "catch.hpp"
#include "test_util.hpp"
#include <aio/aio.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

// An event source with callbacks, as a C library would have: fire() calls who registered.
class Flag {
public:
    void on_set(std::function<void(int)> fn) { callback_ = std::move(fn); }
    void forget() noexcept { callback_ = nullptr; }
    bool armed() const noexcept { return static_cast<bool>(callback_); }
    void fire(int value) {
        value_ = value;
        if (auto fn = std::exchange(callback_, nullptr))
            fn(value);
    }
    int value() const noexcept { return value_; }

private:
    std::function<void(int)> callback_;
    int value_ = 0;
};

class FlagWait : public aio::CancellableAwaiter<FlagWait> {
public:
    FlagWait(Flag& flag, aio_test::Log& log, bool ready = false)
        : flag_(flag), log_(log), ready_(ready) {}
    bool ready() const { return ready_; }
    void arm() {
        log_.push_back("arm");
        flag_.on_set([this](int v) {
            got_ = v;
            wake();
        });
    }
    void disarm() noexcept {
        log_.push_back("disarm");
        flag_.forget();
    }
    int result() const { return ready_ ? -1 : got_; }

private:
    Flag& flag_;
    aio_test::Log& log_;
    bool ready_;
    int got_ = 0;
};

aio::Task<int> wait_flag(Flag& flag, aio_test::Log& log) {
    co_return co_await FlagWait(flag, log);
}

aio::Task<> wait_flag_logged(Flag& flag, aio_test::Log& log, std::string& outcome) {
    try {
        co_await FlagWait(flag, log);
        outcome = "woken";
    } catch (const aio::CancelledError& e) {
        outcome = "cancelled: " + e.message();
        throw;
    }
}

aio::Task<> cancel_self_then_wait(Flag& flag, aio_test::Log& log) {
    aio::current_task().cancel();
    co_await FlagWait(flag, log);
}

aio::Task<> wait_then_yield(Flag& flag, aio_test::Log& log, int& got) {
    got = co_await FlagWait(flag, log);
    co_await aio::sleep(0s); // the cancellation lands here
    got = -100;
}

} // namespace

TEST_CASE("CancellableAwaiter: wake() resumes the task with the result, once", "[awaiter]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Flag flag;
    aio_test::Log log;
    auto body = [&]() -> aio::Task<int> {
        auto waiter = aio::create_task(wait_flag(flag, log));
        co_await aio::sleep(1ms);
        REQUIRE(flag.armed());
        flag.fire(42);
        co_return co_await waiter;
    };
    REQUIRE(loop.run_until_complete(body()) == 42);
    REQUIRE(log == aio_test::Log{"arm"});
}

TEST_CASE("CancellableAwaiter: ready() completes at once without arming", "[awaiter]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Flag flag;
    aio_test::Log log;
    auto body = [&]() -> aio::Task<int> { co_return co_await FlagWait(flag, log, true); };
    REQUIRE(loop.run_until_complete(body()) == -1);
    REQUIRE(log.empty());
}

TEST_CASE("CancellableAwaiter: cancel disarms and raises CancelledError, a later wake is a no-op",
          "[awaiter]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Flag flag;
    aio_test::Log log;
    std::string outcome;
    auto body = [&]() -> aio::Task<> {
        auto waiter = aio::create_task(wait_flag_logged(flag, log, outcome));
        co_await aio::sleep(1ms);
        waiter.cancel("stop");
        REQUIRE_FALSE(flag.armed()); // disarm ran inside cancel()
        flag.fire(7);                // nobody listens any more
        co_await aio_test::error_of(waiter);
        REQUIRE(waiter.cancelled());
    };
    loop.run_until_complete(body());
    REQUIRE(outcome == "cancelled: stop");
    REQUIRE(log == aio_test::Log{"arm", "disarm"});
}

TEST_CASE("CancellableAwaiter: a cancellation pending before the await arms nothing", "[awaiter]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Flag flag;
    aio_test::Log log;
    auto body = [&]() -> aio::Task<> {
        auto waiter = aio::create_task(cancel_self_then_wait(flag, log));
        co_await aio_test::error_of(waiter);
        REQUIRE(waiter.cancelled());
    };
    loop.run_until_complete(body());
    REQUIRE(log.empty());
}

TEST_CASE("CancellableAwaiter: a cancel that arrives after wake() does not lose the result",
          "[awaiter]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    Flag flag;
    aio_test::Log log;
    int got = 0;
    auto body = [&]() -> aio::Task<> {
        auto waiter = aio::create_task(wait_then_yield(flag, log, got));
        co_await aio::sleep(1ms);
        flag.fire(5);    // woken: queued to run
        waiter.cancel(); // before it ran
        co_await aio_test::error_of(waiter);
        REQUIRE(waiter.cancelled());
    };
    loop.run_until_complete(body());
    REQUIRE(got == 5);
    REQUIRE(log == aio_test::Log{"arm"}); // woken, so nothing to disarm
}

TEST_CASE("CancellableAwaiter: closing the loop while a task waits disarms it", "[awaiter]") {
    Flag flag;
    aio_test::Log log;
    {
        aio::EventLoop loop(aio_test::virtual_loop());
        loop.set_exception_handler(
            [](aio::EventLoop&, const aio::ExceptionContext&) {}); // the pending-task report
        auto waiter = loop.create_task(wait_flag(flag, log));
        loop.run_until_complete(aio::sleep(1ms));
        REQUIRE(flag.armed());
    }
    REQUIRE_FALSE(flag.armed());
    REQUIRE(log == aio_test::Log{"arm", "disarm"});
}
