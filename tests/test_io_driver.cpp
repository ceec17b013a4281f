// Tests of the loop's I/O driver (include/aio/detail/io_driver.hpp, whose header comment is
// the contract), its operations (detail/io_operations.hpp, aio/io.hpp: wait_readable,
// read_some, write_some, close_fd) and the single-threaded part of the signal driver
// (detail/signal_driver.hpp); the signal tests that need other threads are in
// test_signals_driver.cpp (aio_thread_tests, run under TSan), the steady-state counts (no
// epoll_ctl, no allocation per wait) in steady_state/test_steady_state.cpp, a program of its
// own because it replaces the global operator new.
#include "catch.hpp"
#include "io_test_util.hpp"
#include "pipe.hpp"
#include "test_util.hpp"
#include <aio/aio.hpp>
#include <aio/io.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

using namespace std::chrono_literals;
using aio::detail::IoDirection;
using aio::detail::LoopAccess;
using aio_test::Log;
using aio_test::Pipe;
using aio_test::Watchdog;

using aio_test::io::baseline_handler;
using aio_test::io::baseline_handler_calls;
using aio_test::io::BaselineHandler;
using aio_test::io::bytes_in;
using aio_test::io::bytes_of;
using aio_test::io::current_handler;
using aio_test::io::describe;
using aio_test::io::HandlerFn;
using aio_test::io::run_bounded;
using aio_test::io::system_error_of;
using aio_test::io::SystemError;

// ---------------------------------------------------------------- 2. many waiters, callbacks
// beside waits

TEST_CASE("io driver: three tasks waiting to read one pipe are all woken by one write, in order",
          "[io_driver][waiters]") {
    const int fds_before = aio_test::open_fd_count();
    {
        Pipe p;
        aio::EventLoop loop(aio_test::virtual_loop());
        Log log;
        auto reader = [&](std::string name) -> aio::Task<> {
            log.push_back(name + " waits");
            co_await aio::wait_readable(p.r);
            log.push_back(name + " woke");
        };
        std::size_t registrations = 0;
        bool all_pending = false;
        auto body = [&]() -> aio::Task<> {
            const std::size_t base = LoopAccess::io(loop).registered_count();
            auto a = aio::create_task(reader("r1"));
            auto b = aio::create_task(reader("r2"));
            auto c = aio::create_task(reader("r3"));
            co_await aio::sleep(1ms);
            all_pending = !a.done() && !b.done() && !c.done();
            registrations = LoopAccess::io(loop).registered_count() - base;
            log.push_back("write");
            p.write("x");
            co_await aio::wait_for(a, 1s);
            co_await aio::wait_for(b, 1s);
            co_await aio::wait_for(c, 1s);
        };
        run_bounded(loop, body());
        CHECK(all_pending);
        CHECK(registrations == 1); // one registration per fd, whatever the number of waiters
        CHECK(log ==
              Log{"r1 waits", "r2 waits", "r3 waits", "write", "r1 woke", "r2 woke", "r3 woke"});
        CHECK(p.read_available() == "x"); // waits consume nothing
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("io driver: cancelling one of two waiters leaves the other waiting, and the next write "
          "wakes it",
          "[io_driver][waiters][cancel]") {
    Pipe p;
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    auto reader = [&](std::string name) -> aio::Task<> {
        co_await aio::wait_readable(p.r);
        log.push_back(name + " woke");
    };
    std::string first_outcome;
    bool second_pending_after_cancel = false;
    bool second_pending_later = false;
    auto body = [&]() -> aio::Task<> {
        auto first = aio::create_task(reader("first"));
        auto second = aio::create_task(reader("second"));
        co_await aio::sleep(1ms);
        first.cancel("not you");
        first_outcome = describe(co_await aio_test::error_of(first));
        second_pending_after_cancel = !second.done();
        co_await aio::sleep(10ms);
        second_pending_later = !second.done();
        log.push_back("write");
        p.write("x");
        co_await aio::wait_for(second, 1s);
    };
    run_bounded(loop, body());
    CHECK(first_outcome == "CancelledError: not you");
    CHECK(second_pending_after_cancel);
    CHECK(second_pending_later);
    CHECK(log == Log{"write", "second woke"});
    CHECK(LoopAccess::io(loop).find(p.r)->waiters[0].empty());
}

TEST_CASE("io driver: an add_reader callback and a wait_readable on the same fd both fire",
          "[io_driver][callbacks]") {
    Pipe p;
    aio::EventLoop loop(aio_test::virtual_loop());
    Log log;
    int callback_runs = 0;
    std::string callback_read;
    loop.add_reader(p.r, [&] {
        ++callback_runs;
        log.push_back("callback");
        callback_read += p.read_available();
    });
    bool removed = false;
    auto wait_and_log = [&]() -> aio::Task<> {
        co_await aio::wait_readable(p.r);
        log.push_back("waiter");
    };
    auto body = [&]() -> aio::Task<> {
        auto waiter = aio::create_task(wait_and_log());
        co_await aio::sleep(1ms);
        log.push_back("write");
        p.write("data");
        co_await aio::wait_for(waiter, 1s);
        co_await aio::sleep(1ms);
        removed = loop.remove_reader(p.r);
    };
    run_bounded(loop, body());
    // Both ran once, after the write; their order is not part of the contract.
    REQUIRE(log.size() == 3);
    CHECK(log[0] == "write");
    CHECK(((log[1] == "waiter" && log[2] == "callback") ||
           (log[1] == "callback" && log[2] == "waiter")));
    CHECK(callback_runs == 1);
    CHECK(callback_read == "data");
    CHECK(removed); // the wait left the callback installed
}

TEST_CASE("io driver: remove_reader does not disturb a pending wait_readable on the same fd",
          "[io_driver][callbacks]") {
    Pipe p;
    aio::EventLoop loop(aio_test::virtual_loop());
    int callback_runs = 0;
    bool removed_once = false, removed_twice = true, waiter_pending = false;
    std::string waiter_read;
    auto wait_and_read = [&]() -> aio::Task<> {
        co_await aio::wait_readable(p.r);
        waiter_read = p.read_available();
    };
    auto body = [&]() -> aio::Task<> {
        loop.add_reader(p.r, [&] { ++callback_runs; });
        auto waiter = aio::create_task(wait_and_read());
        co_await aio::sleep(1ms);
        removed_once = loop.remove_reader(p.r);
        removed_twice = loop.remove_reader(p.r);
        co_await aio::sleep(1ms);
        waiter_pending = !waiter.done();
        p.write("still here");
        co_await aio::wait_for(waiter, 1s);
    };
    run_bounded(loop, body());
    CHECK(removed_once);
    CHECK_FALSE(removed_twice);
    CHECK(waiter_pending);
    CHECK(waiter_read == "still here");
    CHECK(callback_runs == 0); // removed before anything was readable
}

TEST_CASE("io driver: wait_readable does not remove an add_reader callback on the same fd",
          "[io_driver][callbacks]") {
    Pipe p;
    aio::EventLoop loop(aio_test::virtual_loop());
    std::string callback_read;
    int callback_runs = 0;
    bool removed = false;
    auto body = [&]() -> aio::Task<> {
        loop.add_reader(p.r, [&] {
            ++callback_runs;
            callback_read += p.read_available();
        });
        p.write("a");
        co_await aio::sleep(1ms); // the callback reads "a"
        auto waiter = aio::create_task(aio_test::error_of(aio::wait_readable(p.r)));
        co_await aio::sleep(1ms);
        p.write("b"); // wakes the waiter; the callback reads "b"
        co_await aio::wait_for(waiter, 1s);
        co_await aio::sleep(1ms);
        p.write("c"); // the wait is over: the callback must still be there
        co_await aio::sleep(1ms);
        removed = loop.remove_reader(p.r);
    };
    run_bounded(loop, body());
    CHECK(callback_read == "abc");
    CHECK(callback_runs == 3);
    CHECK(removed);
}

// ---------------------------------------------------------------- 3. add_reader is level-triggered

namespace {

/// Runs `loop` for `iterations` iterations and gives the value of `runs` at each: a callback
/// that reschedules itself runs once per iteration and samples it there, then calls
/// `after_sample(k)` (k = 1, 2, ...). Under a watchdog: a loop that stops iterating fails.
std::vector<int> runs_at_each_iteration(
    aio::EventLoop& loop, const int& runs, int iterations,
    const std::function<void(int)>& after_sample = [](int) {}) {
    std::vector<int> samples;
    int iteration = 0;
    std::function<void()> tick = [&] {
        samples.push_back(runs);
        after_sample(++iteration);
        if (iteration < iterations)
            loop.call_soon(tick);
        else
            loop.stop();
    };
    loop.call_soon(tick);
    Watchdog watchdog(loop, 20s);
    loop.run_forever();
    CHECK_FALSE(watchdog.fired());
    return samples;
}

} // namespace

TEST_CASE("io driver: add_reader is level-triggered: an undrained pipe calls back once per "
          "iteration until drained",
          "[io_driver][callbacks]") {
    Pipe p;
    aio::EventLoop loop(aio_test::virtual_loop());
    p.write("abc");
    int runs = 0;
    loop.add_reader(p.r, [&] { ++runs; }); // never reads
    std::string drained;
    const std::vector<int> runs_at_iteration =
        runs_at_each_iteration(loop, runs, 10, [&](int iteration) {
            if (iteration == 5)
                drained = p.read_available();
        });
    CHECK(drained == "abc");
    // Once per iteration while data remains (the reader runs before the tick in each batch);
    // once more on the iteration after the drain (it was queued before it), then never.
    CHECK(runs_at_iteration == std::vector<int>{1, 2, 3, 4, 5, 6, 6, 6, 6, 6});
    CHECK(loop.remove_reader(p.r));
}

TEST_CASE("io driver: an exception in an add_reader callback goes to the exception handler and the "
          "callback keeps running",
          "[io_driver][callbacks][errors]") {
    Pipe p;
    aio::EventLoop loop(aio_test::virtual_loop());
    Log reports;
    loop.set_exception_handler([&](aio::EventLoop&, const aio::ExceptionContext& context) {
        reports.push_back(context.message + " / " + describe(context.exception));
    });
    p.write("x");
    int runs = 0;
    loop.add_reader(p.r, [&] {
        ++runs;
        if (runs <= 2)
            throw std::runtime_error("reader failed " + std::to_string(runs));
    });
    const std::vector<int> runs_at_iteration = runs_at_each_iteration(loop, runs, 5);
    CHECK(reports == Log{"exception in callback / error: reader failed 1",
                         "exception in callback / error: reader failed 2"});
    CHECK(runs_at_iteration == std::vector<int>{1, 2, 3, 4, 5});
    CHECK(loop.remove_reader(p.r));
}

// ---------------------------------------------------------------- 4. close_fd

TEST_CASE("io driver: close_fd wakes every task waiting on the fd with EBADF, closes it and drops "
          "its registration",
          "[io_driver][close]") {
    const int fds_before = aio_test::open_fd_count();
    {
        Pipe p;
        aio::EventLoop loop(aio_test::virtual_loop());
        auto& io = LoopAccess::io(loop);
        const int fd = p.r;
        std::array<char, 1000> buf{};
        int callback_runs = 0;
        std::exception_ptr wait_error, read_error;
        bool both_pending = false, registered_before = false, registered_after = true,
             open_after = true;
        bool reader_removed = true, both_woken = false;
        std::size_t count_before = 0, count_after = 0;
        Log log;
        auto wait_then_log = [&]() -> aio::Task<> {
            wait_error = co_await aio_test::error_of(aio::wait_readable(fd));
            log.push_back("waiter woke");
        };
        auto read_then_log = [&]() -> aio::Task<> {
            read_error = co_await aio_test::error_of(aio::read_some(fd, bytes_of(buf)));
            log.push_back("reader woke");
        };
        auto body = [&]() -> aio::Task<> {
            loop.add_reader(fd, [&] { ++callback_runs; });
            auto waiter = aio::create_task(wait_then_log());
            auto reader = aio::create_task(read_then_log());
            co_await aio::sleep(1ms);
            both_pending = !waiter.done() && !reader.done();
            registered_before = io.find(fd) != nullptr;
            count_before = io.registered_count();
            log.push_back("close_fd");
            aio::close_fd(fd);
            p.r = -1; // closed: the Pipe must not close the number again
            open_after = aio_test::fd_is_open(fd);
            registered_after = io.find(fd) != nullptr;
            count_after = io.registered_count();
            reader_removed = loop.remove_reader(fd);
            co_await aio::sleep(1ms);
            both_woken = waiter.done() && reader.done(); // by close_fd, not by a timeout below
            co_await aio::wait_for(waiter, 1s);
            co_await aio::wait_for(reader, 1s);
        };
        run_bounded(loop, body());
        CHECK(both_pending);
        CHECK(both_woken);
        CHECK(registered_before);
        CHECK_FALSE(open_after); // fcntl(F_GETFD) fails: the fd is closed
        CHECK_FALSE(registered_after);
        CHECK(count_after == count_before - 1);
        CHECK_FALSE(reader_removed); // the callback went with the registration
        CHECK(callback_runs == 0);
        CHECK(log == Log{"close_fd", "waiter woke", "reader woke"});
        const SystemError w = system_error_of(wait_error);
        const SystemError r = system_error_of(read_error);
        INFO("wait_readable: " << w.what);
        INFO("read_some: " << r.what);
        CHECK(w.is_system_error);
        CHECK(w.code == EBADF);
        CHECK(w.system_category);
        CHECK_THAT(w.what, Catch::Contains("wait_readable on fd " + std::to_string(fd)));
        CHECK(r.is_system_error);
        CHECK(r.code == EBADF);
        CHECK_THAT(r.what, Catch::Contains("read on fd " + std::to_string(fd)));
        CHECK_THAT(r.what, Catch::Contains("closed while the operation was pending"));
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("io driver: close_fd needs a running loop, and reports a failing close",
          "[io_driver][close][errors]") {
    Pipe p;
    CHECK_THAT(aio_test::runtime_error_of([&] { aio::close_fd(p.r); }),
               Catch::Contains("needs a running event loop"));
    CHECK(aio_test::fd_is_open(p.r)); // not closed by the failed call
    aio::EventLoop loop;
    const int fd = p.r;
    std::string outcome;
    auto body = [&]() -> aio::Task<> {
        aio::close_fd(fd); // never registered: just closed
        p.r = -1;
        try {
            aio::close_fd(fd); // closed already
            outcome = "no exception";
        } catch (...) {
            outcome = describe(std::current_exception());
        }
        co_return;
    };
    run_bounded(loop, body());
    CHECK_FALSE(aio_test::fd_is_open(fd));
    CHECK_THAT(outcome, Catch::StartsWith("system_error " + std::to_string(EBADF) + ": close(" +
                                          std::to_string(fd) + ")"));
}

TEST_CASE("io driver: a new fd with the number of a closed one is a new registration: only its own "
          "writes wake it",
          "[io_driver][close]") {
    const int fds_before = aio_test::open_fd_count();
    {
        aio::EventLoop loop(aio_test::virtual_loop());
        Pipe old_pipe;
        const int number = old_pipe.r;
        // A second descriptor keeps the old pipe's read side open, so writing to it succeeds
        // (no EPIPE) and makes the old pipe readable after its fd number went to the new pipe.
        const int old_reader = ::fcntl(old_pipe.r, F_DUPFD_CLOEXEC, 0);
        REQUIRE(old_reader >= 0);
        std::unique_ptr<Pipe> new_pipe;
        std::string first_outcome;
        bool same_number = false, pending_after_stale_write = false;
        std::string got;
        auto wait_and_read_new = [&]() -> aio::Task<> {
            co_await aio::wait_readable(new_pipe->r);
            got = new_pipe->read_available();
        };
        auto body = [&]() -> aio::Task<> {
            auto first = aio::create_task(aio_test::error_of(aio::wait_readable(old_pipe.r)));
            co_await aio::sleep(1ms);
            aio::close_fd(old_pipe.r);
            old_pipe.r = -1;
            first_outcome = describe(co_await first);

            new_pipe = std::make_unique<Pipe>();
            if (new_pipe->r != number) { // a lower number was free: move the read end to `number`
                REQUIRE(::dup3(new_pipe->r, number, O_CLOEXEC) == number);
                ::close(new_pipe->r);
                new_pipe->r = number;
            }
            same_number = new_pipe->r == number;
            auto second = aio::create_task(wait_and_read_new());
            co_await aio::sleep(1ms);
            old_pipe.write("stale"); // the old pipe, whose fd number this was
            co_await aio::sleep(10ms);
            pending_after_stale_write = !second.done();
            new_pipe->write("fresh");
            co_await aio::wait_for(second, 1s);
        };
        run_bounded(loop, body());
        CHECK_THAT(first_outcome, Catch::StartsWith("system_error " + std::to_string(EBADF)));
        CHECK(same_number);
        CHECK(pending_after_stale_write);
        CHECK(got == "fresh");
        char buf[16];
        CHECK(::read(old_reader, buf, sizeof buf) == 5); // "stale" is still in the old pipe
        ::close(old_reader);
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("io driver: events for a file closed behind the driver's back never reach the "
          "registration's next fd",
          "[io_driver][close]") {
    // The registration generation at work. A plain ::close of a registered fd, while a dup
    // keeps the file open, leaves the kernel's epoll entry (keyed by fd number and file) behind
    // with the registration's token; close_fd of the number's next owner cannot remove it
    // (ENOENT) and retires the registration, which the next fd reuses. Events for the old
    // file still arrive with the old token: only the generation tells them apart.
    const int fds_before = aio_test::open_fd_count();
    {
        aio::EventLoop loop(aio_test::virtual_loop());
        auto& io = LoopAccess::io(loop);
        Pipe first;
        const int number = first.r;
        aio::detail::IoRegistration* const reg = &io.registration(number);
        const int keep = ::fcntl(first.r, F_DUPFD_CLOEXEC, 0); // keeps the first pipe's file open
        REQUIRE(keep >= 0);
        ::close(first.r); // behind the driver's back
        first.r = -1;
        Pipe second;
        if (second.r != number) {
            REQUIRE(::dup3(second.r, number, O_CLOEXEC) == number);
            ::close(second.r);
            second.r = number;
        }
        Pipe third;
        bool reused = false, pending_after_stale_event = false;
        std::string got;
        auto wait_and_read = [&]() -> aio::Task<> {
            co_await aio::wait_readable(third.r);
            got = third.read_available();
        };
        auto body = [&]() -> aio::Task<> {
            aio::close_fd(second.r); // the number's current owner: the stale epoll entry stays
            second.r = -1;
            auto waiter = aio::create_task(wait_and_read());
            co_await aio::sleep(1ms);
            reused = io.find(third.r) == reg; // the retired registration serves the new fd
            first.write("stale"); // the first pipe becomes readable: an event with the old token
            co_await aio::sleep(10ms);
            pending_after_stale_event = !waiter.done();
            third.write("fresh");
            co_await aio::wait_for(waiter, 1s);
        };
        run_bounded(loop, body());
        REQUIRE(reused); // else this test proves nothing
        CHECK(pending_after_stale_event);
        CHECK(got == "fresh");
        ::close(keep);
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

// ---------------------------------------------------------------- 5. read_some / write_some

TEST_CASE("io driver: read_some returns 0 at end of file", "[io_driver][ops]") {
    Pipe p;
    aio::EventLoop loop(aio_test::virtual_loop());
    std::array<char, 1000> buf{};
    std::vector<std::size_t> results;
    bool pending_before_close = false;
    std::string outcome;
    auto read_three = [&]() -> aio::Task<> {
        results.push_back(co_await aio::read_some(p.r, bytes_of(buf))); // "ab"
        results.push_back(co_await aio::read_some(p.r, bytes_of(buf))); // pending, then EOF
        results.push_back(co_await aio::read_some(p.r, bytes_of(buf))); // EOF at once
    };
    auto body = [&]() -> aio::Task<> {
        auto reader = aio::create_task(read_three());
        co_await aio::sleep(1ms);
        p.write("ab");
        co_await aio::sleep(1ms);
        pending_before_close = !reader.done();
        p.close_write();
        outcome = describe(co_await aio_test::error_of(aio::wait_for(reader, 1s)));
    };
    run_bounded(loop, body());
    CHECK(pending_before_close);
    CHECK(outcome == "ok"); // TimeoutError: a read at EOF waited for an event that never comes
    CHECK(results == std::vector<std::size_t>{2, 0, 0});
    CHECK(std::string(buf.data(), 2) == "ab");
}

namespace {

/// How a forked child ended and what it reported.
struct ChildReport {
    std::string outcome; // what the child's function returned
    int status = 0;      // from waitpid
};

/// Runs `fn` (returning a std::string) in a forked child, for tests that need a process of
/// their own: a signal disposition is process-wide, and a child may be killed by a signal.
/// The child has 10 s (alarm); an exception escaping `fn` is reported, never left to run
/// the rest of the test program in the child.
template <class F>
ChildReport run_in_child(F fn) {
    int report[2];
    REQUIRE(::pipe2(report, O_CLOEXEC) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::close(report[0]);
        ::alarm(10);
        std::string outcome;
        try {
            outcome = fn();
        } catch (...) {
            outcome = "the child threw: " + describe(std::current_exception());
        }
        [[maybe_unused]] auto n = ::write(report[1], outcome.data(), outcome.size());
        ::_exit(0);
    }
    ::close(report[1]);
    ChildReport r;
    char buf[256];
    for (ssize_t n; (n = ::read(report[0], buf, sizeof buf)) > 0;)
        r.outcome.append(buf, static_cast<std::size_t>(n));
    ::close(report[0]);
    REQUIRE(::waitpid(child, &r.status, 0) == child);
    return r;
}

void custom_sigpipe_handler(int) {}

} // namespace

TEST_CASE("io driver: write_some to a pipe whose reader is gone throws EPIPE, and SIGPIPE does not "
          "kill the program",
          "[io_driver][ops][signal]") {
    // In a child with SIGPIPE at its default disposition, as in a plain program: a pipe write
    // with no reader raises SIGPIPE unless the library prevents it.
    const ChildReport child = run_in_child([] {
        std::signal(SIGPIPE, SIG_DFL);
        try {
            Pipe p;
            p.close_read();
            aio::EventLoop loop;
            auto body = [&]() -> aio::Task<std::exception_ptr> {
                const std::string x = "x";
                co_return co_await aio_test::error_of(aio::write_some(p.w, bytes_of(x)));
            };
            return describe(loop.run_until_complete(body()));
        } catch (...) {
            return "the loop threw: " + describe(std::current_exception());
        }
    });
    const bool killed = WIFSIGNALED(child.status);
    const int killed_by = killed ? WTERMSIG(child.status) : 0;
    INFO("child: " << (killed ? "killed by signal " + std::to_string(killed_by) +
                                    (killed_by == SIGPIPE ? " (SIGPIPE)" : "")
                              : "exited with " + std::to_string(WEXITSTATUS(child.status))));
    INFO("outcome: " << child.outcome);
    CHECK_FALSE(killed);
    CHECK(killed_by != SIGPIPE);
    CHECK_THAT(child.outcome,
               Catch::StartsWith("system_error " + std::to_string(EPIPE) + ": write on fd "));
}

TEST_CASE("io driver: a loop ignores SIGPIPE only when it is at its default disposition",
          "[io_driver][signal]") {
    // In a child: the disposition is process-wide, and this process's loops changed it already.
    const ChildReport child = run_in_child([] {
        std::string outcome;
        std::signal(SIGPIPE, SIG_DFL);
        {
            aio::EventLoop loop;
            outcome +=
                current_handler(SIGPIPE) == SIG_IGN ? "default->ignored;" : "default->not ignored;";
        }
        std::signal(SIGPIPE, &custom_sigpipe_handler);
        {
            aio::EventLoop loop;
            outcome += current_handler(SIGPIPE) == &custom_sigpipe_handler ? "custom->kept"
                                                                           : "custom->replaced";
        }
        return outcome;
    });
    CHECK(WIFEXITED(child.status));
    CHECK(child.outcome == "default->ignored;custom->kept");
}

TEST_CASE("io driver: read_some is cancel-safe: data read for a task cancelled before it resumed "
          "is returned",
          "[io_driver][ops][cancel]") {
    // The reader's read is performed in the poll phase; a callback that runs ahead of the
    // reader in the same batch cancels it. The bytes must come back from the read (the
    // cancellation follows at the next suspension point).
    Pipe p;
    Pipe trigger; // its add_reader callback is queued by the same poll, ahead of the reader
    aio::EventLoop loop(aio_test::virtual_loop());
    std::array<char, 1000> buf{};
    Log log;
    int pipe_bytes_at_cancel = -1;
    bool reader_done_at_cancel = true;
    std::string after_read, reader_outcome;
    aio::Task<> reader;
    auto read_then_sleep = [&]() -> aio::Task<> {
        const std::size_t n = co_await aio::read_some(p.r, bytes_of(buf));
        log.push_back("read " + std::string(buf.data(), n));
        try {
            co_await aio::sleep(1ms);
            after_read = "ok";
        } catch (...) {
            after_read = describe(std::current_exception());
            throw;
        }
    };
    auto body = [&]() -> aio::Task<> {
        reader = aio::create_task(read_then_sleep());
        co_await aio::sleep(1ms); // the reader is waiting
        loop.add_reader(trigger.r, [&] {
            pipe_bytes_at_cancel = bytes_in(p.r);
            reader_done_at_cancel = reader.done();
            reader.cancel("too late");
            log.push_back("cancel");
            loop.remove_reader(trigger.r);
        });
        trigger.write("t"); // ready first ...
        p.write("hello");   // ... then the reader's pipe: one poll reports both, in this order
        reader_outcome = describe(co_await aio_test::error_of(aio::wait_for(reader, 1s)));
    };
    run_bounded(loop, body());
    CHECK(log == Log{"cancel", "read hello"});
    CHECK(pipe_bytes_at_cancel == 0); // the driver had read the data when the cancel came
    CHECK_FALSE(reader_done_at_cancel);
    CHECK(after_read == "CancelledError: too late"); // delivered at the next suspension point
    CHECK(reader_outcome == "CancelledError: too late");
    CHECK(reader.cancelled());
    CHECK(bytes_in(p.r) == 0);
}

TEST_CASE("io driver: a read_some cancelled while pending leaves the data in the pipe",
          "[io_driver][ops][cancel]") {
    Pipe p;
    aio::EventLoop loop(aio_test::virtual_loop());
    std::array<char, 1000> buf{};
    std::string outcome;
    auto body = [&]() -> aio::Task<> {
        auto reader = aio::create_task(aio_test::error_of(aio::read_some(p.r, bytes_of(buf))));
        co_await aio::sleep(1ms);
        reader.cancel("stop");
        p.write("kept");
        outcome = describe(co_await reader);
    };
    run_bounded(loop, body());
    CHECK(outcome == "CancelledError: stop");
    CHECK(p.read_available() == "kept");
    CHECK(LoopAccess::io(loop).find(p.r)->waiters[0].empty());
}

// ---------------------------------------------------------------- 6. plain waits: at once, or
// really suspend

TEST_CASE("io driver: wait_readable on a pipe that already has data returns without suspending",
          "[io_driver][waits]") {
    Pipe p;
    aio::EventLoop loop(aio_test::virtual_loop());
    // A callback queued just before each wait would run first if the task suspended.
    // (The counter lives outside the coroutine, whose frame is gone when the callback runs.)
    std::vector<bool> suspended;
    int callbacks_run = 0;
    auto wait_at_once = [&]() -> aio::Task<> {
        const int before = callbacks_run;
        loop.call_soon([&callbacks_run] { ++callbacks_run; });
        co_await aio::wait_readable(p.r);
        suspended.push_back(callbacks_run != before);
    };
    auto body = [&]() -> aio::Task<> {
        p.write("x");
        co_await wait_at_once(); // a fresh registration: poll(2) says readable
        co_await wait_at_once(); // not drained: still readable
        (void)p.read_available();
        auto later = aio::create_task(aio::wait_for(aio::wait_readable(p.r), 1s));
        co_await aio::sleep(1ms);
        p.write("y");
        co_await later;
        co_await wait_at_once(); // woken by an event, not drained
        (void)p.read_available();
        co_await aio::sleep(1ms);
        p.write("z");
        co_await aio::sleep(1ms); // the event arrives while nobody waits
        co_await wait_at_once();
    };
    run_bounded(loop, body());
    CHECK(suspended == std::vector<bool>{false, false, false, false});
}

TEST_CASE("io driver: wait_readable after the caller drained the pipe suspends (no spin, no stale "
          "readiness)",
          "[io_driver][waits]") {
    Pipe p;
    aio::EventLoop loop(aio_test::virtual_loop());
    std::string outcome, drained;
    long long waited_ms = -1;
    int ticks = 0;
    bool waiters_left = true;
    bool stop = false;
    // A 1 ms ticker on the test clock: time only jumps when the loop is idle, so if the wait
    // spun (kept work ready) time would stop and the watchdog would end the test.
    auto tick = [&]() -> aio::Task<> {
        while (!stop) {
            co_await aio::sleep(1ms);
            ++ticks;
        }
    };
    auto body = [&]() -> aio::Task<> {
        auto ticker = aio::create_task(tick());
        p.write("x");
        co_await aio::wait_readable(p.r);
        drained = p.read_available();
        const auto t0 = loop.time();
        outcome =
            describe(co_await aio_test::error_of(aio::wait_for(aio::wait_readable(p.r), 50ms)));
        waited_ms = aio_test::ms_since(t0);
        waiters_left = !LoopAccess::io(loop).find(p.r)->waiters[0].empty();
        stop = true;
        co_await ticker;
    };
    Watchdog watchdog(loop, 20s);
    loop.run_until_complete(body());
    CHECK_FALSE(watchdog.fired());
    CHECK(drained == "x");
    CHECK(outcome == "TimeoutError");
    CHECK(waited_ms == 50);
    CHECK(ticks >= 49);
    CHECK(ticks <= 52);
    CHECK_FALSE(waiters_left); // the timed-out wait left the fd's waiter list
}

// ---------------------------------------------------------------- 7. the signal driver (one
// thread)

TEST_CASE("signal driver: a watched signal runs its callback on the loop, as a callback, not in "
          "the OS handler",
          "[io_driver][signal]") {
    const int fds_before = aio_test::open_fd_count();
    {
        BaselineHandler baseline(SIGUSR1);
        aio::EventLoop loop;
        auto& signals = LoopAccess::signals(loop);
        aio::Event arrived;
        Log log;
        int runs = 0;
        bool on_the_loop = false, in_a_task = true;
        const std::uint64_t id = signals.watch(
            SIGUSR1, aio::detail::make_callback([&] {
                ++runs;
                log.push_back("callback");
                on_the_loop =
                    aio::detail::tls_running_core == &LoopAccess::core(loop) && loop.is_running();
                in_a_task = static_cast<bool>(aio::current_task());
                arrived.set();
            }));
        CHECK(signals.watching(SIGUSR1));
        CHECK(current_handler(SIGUSR1) != &baseline_handler);
        const int baseline_calls = baseline_handler_calls.load();
        int runs_right_after_kill = -1;
        std::string outcome;
        auto body = [&]() -> aio::Task<> {
            REQUIRE(::kill(::getpid(), SIGUSR1) == 0);
            runs_right_after_kill = runs; // the OS handler may have run already; the callback not
            log.push_back("killed");
            outcome = describe(co_await aio_test::error_of(aio::wait_for(arrived.wait(), 5s)));
            co_await aio::sleep(20ms); // a second run would show here
        };
        run_bounded(loop, body());
        CHECK(runs_right_after_kill == 0);
        CHECK(outcome == "ok");
        CHECK(log == Log{"killed", "callback"});
        CHECK(runs == 1);
        CHECK(on_the_loop);
        CHECK_FALSE(in_a_task);
        CHECK(baseline_handler_calls.load() ==
              baseline_calls); // replaced while watched, not chained
        CHECK(signals.unwatch(id));
        CHECK_FALSE(signals.unwatch(id));
        CHECK_FALSE(signals.watching(SIGUSR1));
        CHECK(current_handler(SIGUSR1) == &baseline_handler);
    }
    REQUIRE(aio_test::open_fd_count() == fds_before); // the loop's signal pipe is closed with it
}

TEST_CASE("signal driver: the previous disposition comes back when the last watcher leaves",
          "[io_driver][signal]") {
    BaselineHandler baseline(SIGUSR1); // "the user's handler"
    aio::EventLoop loop;
    auto& signals = LoopAccess::signals(loop);
    const std::uint64_t first = signals.watch(SIGUSR1, aio::detail::make_callback([] {}));
    const std::uint64_t second = signals.watch(SIGUSR1, aio::detail::make_callback([] {}));
    CHECK(first != second);
    const HandlerFn watched = current_handler(SIGUSR1);
    CHECK(watched != &baseline_handler);
    CHECK(watched != SIG_DFL);
    CHECK(signals.unwatch(first));
    CHECK(current_handler(SIGUSR1) == watched); // one watcher left
    CHECK(signals.unwatch(second));
    CHECK(current_handler(SIGUSR1) == &baseline_handler);
    CHECK_FALSE(signals.unwatch(second));
    const int calls = baseline_handler_calls.load();
    REQUIRE(::raise(SIGUSR1) == 0); // delivered to this thread before raise returns
    CHECK(baseline_handler_calls.load() == calls + 1);
}

TEST_CASE("signal driver: SIGKILL, SIGSTOP and numbers out of range cannot be watched (EINVAL)",
          "[io_driver][signal][errors]") {
    aio::EventLoop loop;
    auto& signals = LoopAccess::signals(loop);
    for (int signo : {SIGKILL, SIGSTOP, 0, 65, -1}) {
        INFO("signal " << signo);
        std::string outcome;
        try {
            signals.watch(signo, aio::detail::make_callback([] {}));
            outcome = "no exception";
        } catch (...) {
            outcome = describe(std::current_exception());
        }
        CHECK_THAT(outcome,
                   Catch::StartsWith("system_error " + std::to_string(EINVAL) + ": signal " +
                                     std::to_string(signo) + " cannot be handled"));
        CHECK_FALSE(signals.watching(signo));
    }
}
