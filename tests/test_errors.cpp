// Tests for the error types and error propagation (include/aio/errors.hpp).
#include <aio/errors.hpp>
#include <aio/aio.hpp>

#include "catch.hpp"

#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

using namespace std::chrono_literals;

namespace {

aio::LoopOptions virtual_time() {
    aio::LoopOptions o;
    o.virtual_time = true;
    return o;
}

struct CustomError : std::runtime_error {
    int code;
    CustomError(const std::string& what, int c) : std::runtime_error(what), code(c) {}
};

aio::Task<int> throws_before_suspending(int code) {
    throw CustomError("failed at once", code);
    co_return 0;
}

aio::Task<int> throws_after_suspending(int code) {
    co_await aio::sleep(1ms);
    throw CustomError("failed later", code);
}

aio::Task<int> middle(bool early) {
    int v = early ? co_await throws_before_suspending(1) : co_await throws_after_suspending(2);
    co_return v + 100;
}

aio::Task<> throw_non_std() {
    co_await aio::sleep(0s);
    throw 42;
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

TEST_CASE("error type hierarchy", "[errors]") {
    static_assert(std::is_base_of_v<std::runtime_error, aio::RuntimeError>);
    static_assert(std::is_base_of_v<std::exception, aio::InvalidStateError>);
    static_assert(std::is_base_of_v<std::exception, aio::ValueError>);
    static_assert(std::is_base_of_v<std::runtime_error, aio::TimeoutError>);
    static_assert(!std::is_base_of_v<std::exception, aio::CancelledError>);
    SUCCEED();
}

TEST_CASE("library errors carry a message", "[errors]") {
    std::string get_loop_msg;
    try {
        (void)aio::get_running_loop();
    } catch (const aio::RuntimeError& e) {
        get_loop_msg = e.what();
    }
    REQUIRE_THAT(get_loop_msg, Catch::Contains("no running event loop"));

    aio::EventLoop loop(virtual_time());
    loop.set_exception_handler([](aio::EventLoop&, const aio::ExceptionContext&) {});
    auto sleeper = []() -> aio::Task<> { co_await aio::sleep(1h); };
    auto t = loop.create_task(sleeper());
    std::string not_done_msg;
    try {
        t.result();
    } catch (const aio::InvalidStateError& e) {
        not_done_msg = e.what();
    }
    REQUIRE_FALSE(not_done_msg.empty());
}

TEST_CASE("exceptions cross co_await with their type and message: lazy chain", "[errors]") {
    aio::EventLoop loop(virtual_time());
    REQUIRE_THROWS_AS(loop.run_until_complete(middle(true)), CustomError);
    REQUIRE_THROWS_WITH(loop.run_until_complete(middle(true)), "failed at once");
    REQUIRE_THROWS_AS(loop.run_until_complete(middle(false)), CustomError);
    REQUIRE_THROWS_WITH(loop.run_until_complete(middle(false)), "failed later");
    int code = 0;
    try {
        loop.run_until_complete(middle(false));
    } catch (const CustomError& e) {
        code = e.code;
    }
    REQUIRE(code == 2);
}

TEST_CASE("exceptions cross co_await with their type and message: created tasks", "[errors]") {
    aio::EventLoop loop(virtual_time());
    std::vector<std::string> caught;
    std::vector<int> codes;
    auto body = [&]() -> aio::Task<> {
        auto early = aio::create_task(throws_before_suspending(7));
        auto late = aio::create_task(throws_after_suspending(8));
        auto chain = aio::create_task(middle(false));
        for (auto* t : {&early, &late, &chain}) {
            try {
                co_await *t;
            } catch (const CustomError& e) {
                caught.push_back(e.what());
                codes.push_back(e.code);
            }
        }
    };
    loop.run_until_complete(body());
    REQUIRE(caught == std::vector<std::string>{"failed at once", "failed later", "failed later"});
    REQUIRE(codes == std::vector<int>{7, 8, 2});
}

TEST_CASE("non-std exceptions propagate too", "[errors]") {
    aio::EventLoop loop;
    REQUIRE_THROWS_AS(loop.run_until_complete(throw_non_std()), int);
    int caught = 0;
    auto body = [&]() -> aio::Task<> {
        auto t = aio::create_task(throw_non_std());
        try {
            co_await t;
        } catch (int v) {
            caught = v;
        }
    };
    loop.run_until_complete(body());
    REQUIRE(caught == 42);
}

TEST_CASE("a failing task nobody awaits does not stop the loop or other tasks", "[errors]") {
    aio::EventLoop loop(virtual_time());
    loop.set_exception_handler([](aio::EventLoop&, const aio::ExceptionContext&) {});
    bool other_finished = false;
    auto other = [&]() -> aio::Task<> {
        co_await aio::sleep(10ms);
        other_finished = true;
    };
    aio::Task<int> failed;
    auto body = [&]() -> aio::Task<> {
        failed = aio::create_task(throws_after_suspending(3));
        auto o = aio::create_task(other());
        co_await aio::sleep(5ms);
        REQUIRE(failed.done());
        co_await o;
    };
    loop.run_until_complete(body());
    REQUIRE(other_finished);
    REQUIRE(failed.done());
    REQUIRE(what_of(failed.exception()) == "failed later");
}

TEST_CASE("debug mode: a failed task whose exception was never retrieved is reported", "[errors][debug]") {
    std::vector<aio::ExceptionContext> reports;
    std::string name;
    {
        aio::EventLoop loop(aio::LoopOptions{.debug = true, .virtual_time = true});
        loop.set_exception_handler(
            [&](aio::EventLoop&, const aio::ExceptionContext& ctx) { reports.push_back(ctx); });
        auto body = [&]() -> aio::Task<> {
            auto t = aio::create_task(throws_after_suspending(4), "doomed");
            name = t.get_name();
            co_await aio::sleep(10ms);  // t failed meanwhile; its handle is dropped below
        };
        loop.run_until_complete(body());
        loop.close();
    }
    REQUIRE(name == "doomed");
    bool found = false;
    for (auto& r : reports) {
        if (r.message.find("never retrieved") != std::string::npos) {
            found = true;
            REQUIRE(r.task_name == "doomed");
            REQUIRE(what_of(r.exception) == "failed later");
        }
    }
    REQUIRE(found);
}

TEST_CASE("a retrieved exception is not reported as never retrieved", "[errors][debug]") {
    std::vector<std::string> messages;
    {
        aio::EventLoop loop(aio::LoopOptions{.debug = true, .virtual_time = true});
        loop.set_exception_handler(
            [&](aio::EventLoop&, const aio::ExceptionContext& ctx) { messages.push_back(ctx.message); });
        auto body = [&]() -> aio::Task<> {
            auto t = aio::create_task(throws_after_suspending(5));
            try {
                co_await t;
            } catch (const CustomError&) {
            }
        };
        loop.run_until_complete(body());
        loop.close();
    }
    for (auto& m : messages) REQUIRE_THAT(m, !Catch::Contains("never retrieved"));
}

TEST_CASE("tasks still pending when a loop closes are reported by name", "[errors][debug]") {
    std::vector<aio::ExceptionContext> reports;
    {
        aio::EventLoop loop(aio::LoopOptions{.debug = true, .virtual_time = true});
        loop.set_exception_handler(
            [&](aio::EventLoop&, const aio::ExceptionContext& ctx) { reports.push_back(ctx); });
        auto stuck = []() -> aio::Task<> { co_await aio::sleep(24h); };
        auto body = [&]() -> aio::Task<> {
            (void)aio::create_task(stuck(), "stuck-forever");
            co_await aio::sleep(1ms);
        };
        loop.run_until_complete(body());
        loop.close();
    }
    bool found = false;
    for (auto& r : reports) found = found || r.task_name == "stuck-forever" ||
                                    r.message.find("stuck-forever") != std::string::npos;
    REQUIRE(found);
}
