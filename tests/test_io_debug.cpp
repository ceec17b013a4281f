// Debug mode catches an fd closed with ::close() behind the I/O driver's back.
#include "catch.hpp"
#include "pipe.hpp"
#include "test_util.hpp"
#include <aio/aio.hpp>

#include <cerrno>
#include <chrono>
#include <string>
#include <system_error>
#include <vector>

using namespace std::chrono_literals;

namespace {

aio::LoopOptions debug_virtual_loop() {
    aio::LoopOptions options = aio_test::virtual_loop();
    options.debug = true;
    return options;
}

} // namespace

TEST_CASE(
    "debug mode: a watched fd closed with ::close() and reused is reported and registered anew",
    "[io_driver][debug]") {
    aio::EventLoop loop(debug_virtual_loop());
    std::vector<std::string> reports;
    loop.set_exception_handler(
        [&](aio::EventLoop&, const aio::ExceptionContext& c) { reports.push_back(c.message); });
    auto body = [&]() -> aio::Task<std::string> {
        int old_read_end = -1;
        {
            aio_test::Pipe first;
            first.write("x");
            co_await aio::wait_readable(first.r); // registers first.r
            old_read_end = first.r;
        }                      // ::close() behind the driver's back
        aio_test::Pipe second; // takes the same numbers
        REQUIRE(second.r == old_read_end);
        auto waiter = aio::create_task(
            [](int fd) -> aio::Task<> { co_await aio::wait_readable(fd); }(second.r));
        co_await aio::sleep(1ms);
        second.write("y");
        co_await aio::wait_for(waiter, 1s); // woken by the new file's event
        co_return second.read_available();
    };
    REQUIRE(loop.run_until_complete(body()) == "y");
    REQUIRE(reports.size() == 1);
    REQUIRE(reports[0].find("was closed with ::close() while the event loop watched it") !=
            std::string::npos);
    REQUIRE(reports[0].find("aio::close_fd()") != std::string::npos);
}

TEST_CASE("debug mode: waiting on a watched fd closed with ::close() throws EBADF",
          "[io_driver][debug]") {
    aio::EventLoop loop(debug_virtual_loop());
    auto body = [&]() -> aio::Task<std::string> {
        aio_test::Pipe p;
        p.write("x");
        co_await aio::wait_readable(p.r);
        const int fd = p.r;
        p.close_read(); // behind the driver's back; nothing reuses the number
        try {
            co_await aio::wait_readable(fd);
        } catch (const std::system_error& e) {
            co_return std::to_string(e.code().value()) + " " + e.what();
        }
        co_return "no error";
    };
    const std::string outcome = loop.run_until_complete(body());
    REQUIRE(outcome.rfind(std::to_string(EBADF) + " cannot watch fd ", 0) == 0);
    REQUIRE(outcome.find("aio::close_fd()") != std::string::npos);
}
