// Tests for fd readiness: add_reader/add_writer and aio::wait_readable/wait_writable
// (include/aio/io.hpp, EventLoop I/O members), on pipes.
#include <aio/io.hpp>
#include <aio/aio.hpp>

#include "catch.hpp"
#include "counted.hpp"
#include "pipe.hpp"

#include <cerrno>
#include <chrono>
#include <string>
#include <system_error>
#include <vector>

using namespace std::chrono_literals;
using aio_test::Pipe;
using Log = std::vector<std::string>;

namespace {

aio::LoopOptions virtual_time() {
    aio::LoopOptions o;
    o.virtual_time = true;
    return o;
}

// A task that just sleeps (test_sleep.cpp checks create_task(aio::sleep(d)) itself).
aio::Task<> sleep_task(aio::Clock::duration d) { co_await aio::sleep(d); }

aio::Task<std::string> read_when_ready(const Pipe& p) {
    co_await aio::wait_readable(p.r);
    co_return p.read_available();
}

} // namespace

TEST_CASE("add_reader calls back when the pipe becomes readable", "[io]") {
    aio::EventLoop loop;
    Pipe p;
    std::string got;
    int calls = 0;
    bool removed = false;
    loop.add_reader(p.r, [&] {
        ++calls;
        got += p.read_available();
        removed = loop.remove_reader(p.r);
        loop.stop();
    });
    loop.call_soon([&] { p.write("hello"); });
    loop.run_forever();
    REQUIRE(got == "hello");
    REQUIRE(calls == 1);
    REQUIRE(removed);
    REQUIRE_FALSE(loop.remove_reader(p.r));  // no longer registered
}

TEST_CASE("add_reader keeps calling back while data keeps coming (level-triggered)", "[io]") {
    aio::EventLoop loop;
    Pipe p;
    std::string got;
    int calls = 0;
    loop.add_reader(p.r, [&] {
        ++calls;
        got += p.read_available();
        if (calls < 3) {
            loop.call_soon([&, calls] { p.write(std::to_string(calls)); });
        } else {
            loop.remove_reader(p.r);
            loop.stop();
        }
    });
    p.write("0");
    loop.run_forever();
    REQUIRE(got == "012");
    REQUIRE(calls == 3);
}

TEST_CASE("add_reader for an fd that is already registered replaces the callback", "[io]") {
    aio::EventLoop loop;
    Pipe p;
    std::string who;
    loop.add_reader(p.r, [&] { who += "first;"; });
    loop.add_reader(p.r, [&] {
        who += "second;";
        p.read_available();
        loop.remove_reader(p.r);
        loop.stop();
    });
    p.write("x");
    loop.run_forever();
    REQUIRE(who == "second;");
}

TEST_CASE("add_writer calls back when the pipe is writable", "[io]") {
    aio::EventLoop loop;
    Pipe p;
    int calls = 0;
    bool removed = false;
    loop.add_writer(p.w, [&] {
        ++calls;
        p.write("ping");
        removed = loop.remove_writer(p.w);
        loop.stop();
    });
    loop.run_forever();
    REQUIRE(calls == 1);
    REQUIRE(removed);
    REQUIRE_FALSE(loop.remove_writer(p.w));
    REQUIRE(p.read_available() == "ping");
}

TEST_CASE("a reader and a writer on the two ends of one pipe", "[io]") {
    aio::EventLoop loop;
    Pipe p;
    std::string got;
    loop.add_writer(p.w, [&] {
        p.write("data");
        loop.remove_writer(p.w);
    });
    loop.add_reader(p.r, [&] {
        got += p.read_available();
        loop.remove_reader(p.r);
        loop.stop();
    });
    loop.run_forever();
    REQUIRE(got == "data");
}

TEST_CASE("remove_reader / remove_writer of an unregistered fd return false", "[io]") {
    aio::EventLoop loop;
    Pipe p;
    REQUIRE_FALSE(loop.remove_reader(p.r));
    REQUIRE_FALSE(loop.remove_writer(p.w));
}

TEST_CASE("add_reader on a closed fd throws std::system_error", "[io][errors]") {
    aio::EventLoop loop;
    Pipe p;
    int fd = p.r;
    p.close_read();
    REQUIRE_FALSE(aio_test::fd_is_open(fd));
    REQUIRE_THROWS_AS(loop.add_reader(fd, [] {}), std::system_error);
    int code = 0;
    try {
        loop.add_reader(fd, [] {});
    } catch (const std::system_error& e) {
        code = e.code().value();
    }
    REQUIRE(code == EBADF);
    REQUIRE_FALSE(loop.remove_reader(fd));
}

TEST_CASE("add_writer on a closed fd throws std::system_error", "[io][errors]") {
    aio::EventLoop loop;
    Pipe p;
    int fd = p.w;
    p.close_write();
    REQUIRE_FALSE(aio_test::fd_is_open(fd));
    REQUIRE_THROWS_AS(loop.add_writer(fd, [] {}), std::system_error);
}

TEST_CASE("wait_readable on a closed fd throws std::system_error in the awaiter", "[io][errors]") {
    aio::EventLoop loop;
    Pipe p;
    int fd = p.r;
    p.close_read();
    REQUIRE_FALSE(aio_test::fd_is_open(fd));
    auto body = [&]() -> aio::Task<> { co_await aio::wait_readable(fd); };
    REQUIRE_THROWS_AS(loop.run_until_complete(body()), std::system_error);
}

TEST_CASE("wait_readable completes when another task writes", "[io]") {
    aio::EventLoop loop(virtual_time());
    Pipe p;
    Log log;
    auto writer = [&]() -> aio::Task<> {
        co_await aio::sleep(5ms);
        log.push_back("writing");
        p.write("payload");
    };
    auto body = [&]() -> aio::Task<std::string> {
        auto w = aio::create_task(writer());
        log.push_back("waiting");
        auto data = co_await read_when_ready(p);
        log.push_back("read");
        co_await w;
        co_return data;
    };
    REQUIRE(loop.run_until_complete(body()) == "payload");
    REQUIRE(log == Log{"waiting", "writing", "read"});
    REQUIRE_FALSE(loop.remove_reader(p.r));  // wait_readable unregistered itself
}

TEST_CASE("wait_readable on a pipe that already has data does not let virtual time jump", "[io][virtual]") {
    aio::EventLoop loop(virtual_time());
    Pipe p;
    p.write("ready");
    aio::Clock::duration read_at{};
    auto body = [&]() -> aio::Task<std::string> {
        auto t0 = loop.time();
        auto sleeper = aio::create_task(sleep_task(1h));
        auto data = co_await read_when_ready(p);
        read_at = loop.time() - t0;
        sleeper.cancel();
        try {
            co_await sleeper;
        } catch (const aio::CancelledError&) {
        }
        co_return data;
    };
    REQUIRE(loop.run_until_complete(body()) == "ready");
    REQUIRE(read_at < 1h);
}

TEST_CASE("wait_writable on a pipe's write end completes", "[io]") {
    aio::EventLoop loop;
    Pipe p;
    auto body = [&]() -> aio::Task<> {
        co_await aio::wait_writable(p.w);
        p.write("w");
    };
    loop.run_until_complete(body());
    REQUIRE(p.read_available() == "w");
    REQUIRE_FALSE(loop.remove_writer(p.w));
}

TEST_CASE("several sequential wait_readable on the same fd", "[io]") {
    aio::EventLoop loop(virtual_time());
    Pipe p;
    auto writer = [&]() -> aio::Task<> {
        for (int i = 0; i < 5; ++i) {
            co_await aio::sleep(1ms);
            p.write(std::to_string(i));
        }
    };
    auto body = [&]() -> aio::Task<std::string> {
        auto w = aio::create_task(writer());
        std::string all;
        while (all.size() < 5) all += co_await read_when_ready(p);
        co_await w;
        co_return all;
    };
    REQUIRE(loop.run_until_complete(body()) == "01234");
}

TEST_CASE("cancel reaches an fd wait: the fd leaves the poller", "[io][cancel]") {
    aio::EventLoop loop(virtual_time());
    Pipe p;  // never written
    bool threw = false;
    std::string message;
    bool still_registered = true;
    aio::Task<std::string> t;
    auto body = [&]() -> aio::Task<> {
        t = aio::create_task(read_when_ready(p));
        co_await aio::sleep(1ms);  // t is now waiting on the fd
        REQUIRE_FALSE(t.done());
        REQUIRE(t.cancel("no data coming"));
        try {
            co_await t;
        } catch (const aio::CancelledError& e) {
            threw = true;
            message = e.message();
        }
        still_registered = loop.remove_reader(p.r);
    };
    loop.run_until_complete(body());
    REQUIRE(threw);
    REQUIRE(message == "no data coming");
    REQUIRE(t.cancelled());
    REQUIRE_FALSE(still_registered);
}

TEST_CASE("after a cancelled wait_readable the fd can be waited on again", "[io][cancel]") {
    aio::EventLoop loop(virtual_time());
    Pipe p;
    auto body = [&]() -> aio::Task<std::string> {
        auto t = aio::create_task(read_when_ready(p));
        co_await aio::sleep(1ms);
        t.cancel();
        try {
            co_await t;
        } catch (const aio::CancelledError&) {
        }
        p.write("again");
        co_return co_await read_when_ready(p);
    };
    REQUIRE(loop.run_until_complete(body()) == "again");
}

TEST_CASE("a pending fd wait does not leak when the loop is destroyed", "[io][lifetime]") {
    aio_test::CountedBaseline baseline;
    Pipe p;
    {
        aio::EventLoop loop(virtual_time());
        loop.set_exception_handler([](aio::EventLoop&, const aio::ExceptionContext&) {});
        auto waiter = [&](aio_test::Counted) -> aio::Task<> { co_await aio::wait_readable(p.r); };
        auto body = [&]() -> aio::Task<> {
            (void)aio::create_task(waiter(aio_test::Counted{}));
            co_await aio::sleep(1ms);
        };
        loop.run_until_complete(body());
    }
    REQUIRE(baseline.leaked() == 0);
}
