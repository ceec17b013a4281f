// loop.add_signal_handler / remove_signal_handler and aio::wait_signal (signals.hpp).
#include "catch.hpp"
#include "io_test_util.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using aio_test::io::BaselineHandler;
using aio_test::io::current_handler;
using aio_test::io::run_bounded;

TEST_CASE("signals: add_signal_handler runs the handler on the loop after the OS handler "
          "returned, a second add replaces it, remove says whether one was there and the "
          "previous disposition comes back",
          "[signals]") {
    BaselineHandler baseline(SIGUSR1);
    aio::EventLoop loop;
    std::vector<std::string> log;
    bool raised = false;
    auto body = [&]() -> aio::Task<> {
        loop.add_signal_handler(
            SIGUSR1, [&] { log.push_back(raised ? "first after raise" : "first inside raise"); });
        REQUIRE(current_handler(SIGUSR1) != &aio_test::io::baseline_handler);
        ::raise(SIGUSR1);
        raised = true;
        while (log.empty())
            co_await aio::sleep(1ms);
        loop.add_signal_handler(SIGUSR1, [&] { log.push_back("second"); }); // replaces the first
        ::raise(SIGUSR1);
        while (log.size() < 2)
            co_await aio::sleep(1ms);
        co_await aio::sleep(10ms); // the first handler would have run by now
        log.push_back(std::to_string(loop.remove_signal_handler(SIGUSR1)));
        log.push_back(std::to_string(loop.remove_signal_handler(SIGUSR1)));
    };
    run_bounded(loop, body());
    REQUIRE(log == std::vector<std::string>{"first after raise", "second", "1", "0"});
    REQUIRE(current_handler(SIGUSR1) == &aio_test::io::baseline_handler);
}

TEST_CASE("signals: signals that cannot be caught raise ValueError", "[signals]") {
    aio::EventLoop loop;
    std::vector<std::string> errors;
    for (int signo : {0, SIGKILL, SIGSTOP, 65}) {
        try {
            loop.add_signal_handler(signo, [] {});
        } catch (const aio::ValueError& e) {
            errors.push_back(e.what());
        }
    }
    REQUIRE(errors.size() == 4);
    REQUIRE(errors[1] == "add_signal_handler(9): not a signal a handler can catch (1..64, and "
                         "neither SIGKILL nor SIGSTOP)");
    REQUIRE_THROWS_AS(aio::wait_signal(SIGKILL), aio::ValueError);
}

TEST_CASE("signals: wait_signal returns the signal that arrived, and a cancelled wait stops "
          "watching",
          "[signals]") {
    BaselineHandler usr1(SIGUSR1);
    BaselineHandler usr2(SIGUSR2);
    aio::EventLoop loop;
    auto body = [&]() -> aio::Task<std::string> {
        std::string out;
        auto waiting = aio::create_task(
            []() -> aio::Task<int> { co_return co_await aio::wait_signal(SIGUSR1, SIGUSR2); }());
        co_await aio::sleep(0s); // the wait is armed
        ::raise(SIGUSR2);
        out += std::to_string(co_await waiting == SIGUSR2) + ";";
        out += std::to_string(current_handler(SIGUSR1) == &aio_test::io::baseline_handler) + ";";
        try {
            co_await aio::wait_for(aio::wait_signal(SIGUSR1), 10ms);
        } catch (const aio::TimeoutError&) {
            out += "timeout;";
        }
        out += std::to_string(current_handler(SIGUSR1) == &aio_test::io::baseline_handler);
        co_return out;
    };
    REQUIRE(run_bounded(loop, body()) == "1;1;timeout;1");
}

TEST_CASE("signals: a storm of 10000 SIGUSR1 from another process coalesces, nothing blocks, "
          "and a signal after it still runs the handler",
          "[signals]") {
    BaselineHandler baseline(SIGUSR1);
    aio::EventLoop loop;
    int runs = 0;
    auto body = [&]() -> aio::Task<std::string> {
        loop.add_signal_handler(SIGUSR1, [&] { ++runs; });
        const pid_t parent = ::getpid();
        const pid_t child = ::fork();
        if (child == 0) {
            for (int i = 0; i < 10'000; ++i)
                ::kill(parent, SIGUSR1);
            ::_exit(0);
        }
        int status = -1;
        while (::waitpid(child, &status, WNOHANG) == 0) // the loop keeps running meanwhile
            co_await aio::sleep(1ms);
        co_await aio::sleep(20ms);
        const int after_storm = runs;
        ::raise(SIGUSR1);
        while (runs == after_storm)
            co_await aio::sleep(1ms);
        loop.remove_signal_handler(SIGUSR1);
        co_return "child=" + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) +
            " ran=" + std::to_string(after_storm >= 1) +
            " coalesced=" + std::to_string(after_storm <= 10'000);
    };
    REQUIRE(run_bounded(loop, body(), 60s) == "child=0 ran=1 coalesced=1");
}
