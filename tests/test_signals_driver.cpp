// Tests of the signal driver (include/aio/detail/signal_driver.hpp) that involve other
// threads: two loops in two threads watching one signal, a storm of signals sent by another
// thread. Built into aio_thread_tests and run under ThreadSanitizer: Catch2 assertions are
// made on the main thread only; other threads record what they saw. The single-threaded
// signal tests are in test_io_driver.cpp.
//
// Signals are process-wide and go to any thread that does not block them: the tests never
// assume which thread runs the OS handler, and a counting handler is installed as the
// "previous disposition" first, so a stray signal never kills the test program.
#include "catch.hpp"
#include "io_test_util.hpp"
#include "loop_thread.hpp"
#include "test_util.hpp"
#include <aio/aio.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <exception>
#include <future>
#include <memory>
#include <pthread.h>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using aio::detail::LoopAccess;
using aio_test::LoopThread;
using aio_test::io::baseline_handler;
using aio_test::io::baseline_handler_calls;
using aio_test::io::BaselineHandler;
using aio_test::io::current_handler;
using aio_test::io::describe;
using aio_test::io::HandlerFn;

namespace {

/// What one loop thread's watcher saw (written on that thread, read by the main thread after
/// the futures are ready).
struct Watcher {
    std::atomic<int> runs{0};
    std::atomic<bool> always_on_loop_thread{true};
    std::promise<void> first_run, second_run;
    std::uint64_t id = 0;
};

/// Runs `fn()` on `thread`'s loop and returns its result (within 5 s, else throws).
template <class F>
auto on_loop(LoopThread& thread, F fn) -> decltype(fn()) {
    using R = decltype(fn());
    auto done = std::make_shared<std::promise<R>>();
    auto result = done->get_future();
    thread.loop().call_soon_threadsafe([done, fn]() mutable {
        try {
            done->set_value(fn());
        } catch (...) {
            done->set_exception(std::current_exception());
        }
    });
    if (result.wait_for(5s) != std::future_status::ready)
        throw std::runtime_error("the loop thread did not answer");
    return result.get();
}

} // namespace

TEST_CASE("signal driver: two loops in two threads watching SIGUSR2 each get it",
          "[threads][signal]") {
    const int fds_before = aio_test::open_fd_count();
    const int baseline_calls = baseline_handler_calls.load();
    {
        BaselineHandler baseline(SIGUSR2);
        Watcher wa, wb;
        auto first_a = wa.first_run.get_future(), first_b = wb.first_run.get_future();
        auto second_b = wb.second_run.get_future();
        {
            LoopThread a, b;
            auto watch = [](LoopThread& thread, Watcher& w) {
                return on_loop(thread, [&thread, &w] {
                    return LoopAccess::signals(thread.loop())
                        .watch(SIGUSR2, aio::detail::make_callback([&thread, &w] {
                                   if (std::this_thread::get_id() != thread.id())
                                       w.always_on_loop_thread = false;
                                   const int n = ++w.runs;
                                   if (n == 1)
                                       w.first_run.set_value();
                                   if (n == 2)
                                       w.second_run.set_value();
                               }));
                });
            };
            wa.id = watch(a, wa);
            wb.id = watch(b, wb);
            const HandlerFn watched = current_handler(SIGUSR2);
            CHECK(watched != &baseline_handler);

            REQUIRE(::kill(::getpid(), SIGUSR2) == 0); // to the process: any thread may take it
            CHECK(first_a.wait_for(5s) == std::future_status::ready);
            CHECK(first_b.wait_for(5s) == std::future_status::ready);

            // One loop stops watching: the other still gets the signal, the OS handler stays.
            CHECK(on_loop(a, [&] { return LoopAccess::signals(a.loop()).unwatch(wa.id); }));
            CHECK(current_handler(SIGUSR2) == watched);
            REQUIRE(::kill(::getpid(), SIGUSR2) == 0);
            CHECK(second_b.wait_for(5s) == std::future_status::ready);

            // The last watcher leaves: the previous disposition is back.
            CHECK(on_loop(b, [&] { return LoopAccess::signals(b.loop()).unwatch(wb.id); }));
            CHECK_FALSE(on_loop(b, [&] { return LoopAccess::signals(b.loop()).unwatch(wb.id); }));
            CHECK(current_handler(SIGUSR2) == &baseline_handler);
        }
        CHECK(wa.runs.load() == 1); // unwatched before the second signal
        CHECK(wb.runs.load() == 2);
        CHECK(wa.always_on_loop_thread.load());
        CHECK(wb.always_on_loop_thread.load());
        CHECK(baseline_handler_calls.load() == baseline_calls); // aio's handler took both signals
    }
    REQUIRE(aio_test::open_fd_count() == fds_before); // both loops' signal pipes are closed
}

TEST_CASE("signal driver: a storm of 10000 SIGUSR1 from another thread coalesces, and a signal "
          "after it still runs the callback",
          "[threads][signal]") {
    constexpr int storm = 10'000;
    const int fds_before = aio_test::open_fd_count();
    {
        BaselineHandler baseline(SIGUSR1);
        aio::EventLoop loop;
        auto& signals = LoopAccess::signals(loop);
        int runs = 0;
        int runs_at_last_signal = -1;
        aio::Event ran_after_last;
        const std::uint64_t id =
            signals.watch(SIGUSR1, aio::detail::make_callback([&] {
                              ++runs;
                              if (runs_at_last_signal >= 0 && runs > runs_at_last_signal)
                                  ran_after_last.set();
                          }));
        std::atomic<int> sent{0};
        aio::Event storm_over;
        std::thread sender;
        std::string storm_outcome, final_outcome;
        int runs_during_storm = -1;
        auto body = [&]() -> aio::Task<> {
            sender = std::thread([&] {
                // The sender blocks SIGUSR1, so the signals are handled by the other threads
                // (the loop's, usually) while the loop runs.
                sigset_t usr1;
                sigemptyset(&usr1);
                sigaddset(&usr1, SIGUSR1);
                pthread_sigmask(SIG_BLOCK, &usr1, nullptr);
                for (int i = 0; i < storm; ++i)
                    if (::kill(::getpid(), SIGUSR1) == 0)
                        sent.fetch_add(1, std::memory_order_relaxed);
                loop.call_soon_threadsafe([&] { storm_over.set(); });
            });
            storm_outcome =
                describe(co_await aio_test::error_of(aio::wait_for(storm_over.wait(), 60s)));
            runs_during_storm = runs;
            // The last signal: raised on this thread, so its OS handler has run when raise()
            // returns. The callback must run at least once more.
            ::raise(SIGUSR1);
            runs_at_last_signal = runs; // the callback cannot run inside this task step
            final_outcome =
                describe(co_await aio_test::error_of(aio::wait_for(ran_after_last.wait(), 5s)));
        };
        try {
            aio_test::Watchdog watchdog(loop, 90s);
            loop.run_until_complete(body());
        } catch (...) {
            if (sender.joinable())
                sender.join();
            throw;
        }
        sender.join();
        WARN(sent.load() << " SIGUSR1 sent by another thread while the loop ran; the callback ran "
                         << runs_during_storm << " times by the end of the storm, " << runs
                         << " in all");
        CHECK(sent.load() == storm);
        CHECK(storm_outcome == "ok");
        CHECK(final_outcome == "ok");
        CHECK(runs_during_storm >= 1);
        CHECK(runs_during_storm <= storm);
        CHECK(runs > runs_at_last_signal);
        CHECK(signals.unwatch(id));
        CHECK(current_handler(SIGUSR1) == &baseline_handler);
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("signals: loop.add_signal_handler on two loops in two threads: each loop runs its own "
          "handler on its own thread",
          "[threads][signal]") {
    const int fds_before = aio_test::open_fd_count();
    {
        BaselineHandler baseline(SIGUSR2);
        Watcher wa, wb;
        auto first_a = wa.first_run.get_future(), first_b = wb.first_run.get_future();
        {
            LoopThread a, b;
            auto install = [](LoopThread& thread, Watcher& w) {
                return on_loop(thread, [&thread, &w] {
                    thread.loop().add_signal_handler(SIGUSR2, [&thread, &w] {
                        if (std::this_thread::get_id() != thread.id())
                            w.always_on_loop_thread = false;
                        if (++w.runs == 1)
                            w.first_run.set_value();
                    });
                    return true;
                });
            };
            CHECK(install(a, wa));
            CHECK(install(b, wb));
            REQUIRE(::kill(::getpid(), SIGUSR2) == 0); // to the process
            CHECK(first_a.wait_for(5s) == std::future_status::ready);
            CHECK(first_b.wait_for(5s) == std::future_status::ready);
            CHECK(on_loop(a, [&] { return a.loop().remove_signal_handler(SIGUSR2); }));
            CHECK(on_loop(b, [&] { return b.loop().remove_signal_handler(SIGUSR2); }));
            CHECK(current_handler(SIGUSR2) == &baseline_handler);
        }
        CHECK(wa.always_on_loop_thread.load());
        CHECK(wb.always_on_loop_thread.load());
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("subprocess: loops in two threads each start and reap their own children, with a "
          "pidfd and with the SIGCHLD watcher",
          "[threads][subprocess]") {
    const int fds_before = aio_test::open_fd_count();
    for (auto mode :
         {aio::detail::ChildWatchMode::automatic, aio::detail::ChildWatchMode::sigchld}) {
        aio::detail::child_watch_mode.store(mode);
        // Each thread's children exit with codes only that thread uses.
        auto children = [](int base) -> aio::Task<std::vector<int>> {
            std::vector<aio::Task<int>> runs;
            for (int i = 0; i < 20; ++i)
                runs.push_back([](int code) -> aio::Task<int> {
                    aio::Process p =
                        co_await aio::create_subprocess_shell("exit " + std::to_string(code));
                    co_return co_await p.wait();
                }(base + i));
            co_return co_await aio::gather(std::move(runs));
        };
        std::vector<int> codes_a, codes_b;
        std::thread a([&] { codes_a = aio::run(children(0)); });
        std::thread b([&] { codes_b = aio::run(children(100)); });
        a.join();
        b.join();
        for (int i = 0; i < 20; ++i) {
            CHECK(codes_a[i] == i);
            CHECK(codes_b[i] == 100 + i);
        }
    }
    aio::detail::child_watch_mode.store(aio::detail::ChildWatchMode::automatic);
    errno = 0;
    CHECK(::waitpid(-1, nullptr, WNOHANG) == -1);
    CHECK(errno == ECHILD);
    REQUIRE(aio_test::open_fd_count() == fds_before);
}
