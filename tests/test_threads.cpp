// Tests that involve other threads: executors, to_thread, run_in_executor,
// call_soon_threadsafe, run_coroutine_threadsafe, one loop per thread.
// Built into aio_thread_tests and run under ThreadSanitizer in CI: Catch2 assertions are
// made on the main thread only; other threads record what they saw.
#include <aio/executor.hpp>
#include <aio/threadsafe.hpp>
#include <aio/aio.hpp>

#include "catch.hpp"
#include "loop_thread.hpp"
#include "counted.hpp"
#include "pipe.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using aio_test::Pipe;

namespace {

using aio_test::LoopThread;

aio::RunOptions virtual_time() {
    aio::RunOptions o;
    o.virtual_time = true;
    return o;
}

// A task that just sleeps (test_sleep.cpp checks create_task(aio::sleep(d)) itself).
aio::Task<> sleep_task(aio::Clock::duration d) { co_await aio::sleep(d); }


} // namespace

// ---------------------------------------------------------------- to_thread / executors

TEST_CASE("to_thread leaves the loop responsive and returns the value", "[threads][executor]") {
    int ticks = 0;
    std::thread::id loop_id, worker_id;
    auto ticker = [&](const bool& stop) -> aio::Task<> {
        while (!stop) {
            co_await aio::sleep(10ms);
            ++ticks;
        }
    };
    auto body = [&]() -> aio::Task<int> {
        loop_id = std::this_thread::get_id();
        bool stop = false;
        auto t = aio::create_task(ticker(stop));
        int v = co_await aio::to_thread([&worker_id] {
            worker_id = std::this_thread::get_id();
            std::this_thread::sleep_for(200ms);
            return 42;
        });
        stop = true;
        co_await t;
        co_return v;
    };
    REQUIRE(aio::run(body()) == 42);
    REQUIRE(ticks >= 3);  // ~20 expected; wide margin for a loaded machine
    REQUIRE(worker_id != std::thread::id{});
    REQUIRE(worker_id != loop_id);
}

TEST_CASE("to_thread passes arguments and works for void functions", "[threads][executor]") {
    std::atomic<int> side{0};
    auto body = [&]() -> aio::Task<int> {
        int sum = co_await aio::to_thread([](int a, int b) { return a + b; }, 2, 3);
        co_await aio::to_thread([&side](int v) { side = v; }, 7);
        std::string s = co_await aio::to_thread([](std::string x) { return x + "!"; }, std::string("hi"));
        co_return sum + static_cast<int>(s.size());
    };
    REQUIRE(aio::run(body()) == 5 + 3);
    REQUIRE(side == 7);
}

TEST_CASE("an exception thrown in run_in_executor's function reaches the awaiter", "[threads][executor]") {
    auto body = [&]() -> aio::Task<int> {
        auto& loop = aio::get_running_loop();
        co_return co_await loop.run_in_executor(nullptr, []() -> int {
            throw std::out_of_range("thrown on a worker thread");
        });
    };
    REQUIRE_THROWS_AS(aio::run(body()), std::out_of_range);
    REQUIRE_THROWS_WITH(aio::run(body()), "thrown on a worker thread");

    auto via_to_thread = [&]() -> aio::Task<> {
        co_await aio::to_thread([] { throw std::invalid_argument("to_thread failure"); });
    };
    REQUIRE_THROWS_AS(aio::run(via_to_thread()), std::invalid_argument);
    REQUIRE_THROWS_WITH(aio::run(via_to_thread()), "to_thread failure");
}

TEST_CASE("run_in_executor with a user ThreadPool", "[threads][executor]") {
    aio::ThreadPool pool(2);
    std::thread::id loop_id, worker_id;
    auto body = [&]() -> aio::Task<int> {
        auto& loop = aio::get_running_loop();
        loop_id = std::this_thread::get_id();
        auto a = loop.run_in_executor(&pool, [&worker_id](int x) {
            worker_id = std::this_thread::get_id();
            return x * 2;
        }, 21);
        auto b = loop.run_in_executor(&pool, [] { return 1; });
        int ra = co_await a;
        int rb = co_await b;
        co_return ra + rb;
    };
    REQUIRE(aio::run(body()) == 43);
    REQUIRE(worker_id != loop_id);
    pool.shutdown(true);
}

TEST_CASE("run_in_executor submits at once: work runs even before it is awaited", "[threads][executor]") {
    aio::ThreadPool pool(1);
    std::atomic<bool> started{false};
    auto body = [&]() -> aio::Task<bool> {
        auto& loop = aio::get_running_loop();
        auto t = loop.run_in_executor(&pool, [&started] { started = true; });
        for (int i = 0; i < 500 && !started; ++i) co_await aio::sleep(2ms);
        bool seen = started;
        co_await t;
        co_return seen;
    };
    REQUIRE(aio::run(body()));
    pool.shutdown(true);
}

TEST_CASE("ThreadPool runs every submitted job, shutdown then submit throws", "[threads][executor]") {
    aio::ThreadPool pool(4);
    std::atomic<int> count{0};
    for (int i = 0; i < 1000; ++i) pool.submit([&count] { count.fetch_add(1); });
    pool.shutdown(true);
    REQUIRE(count == 1000);
    REQUIRE_THROWS_AS(pool.submit([] {}), aio::RuntimeError);
    REQUIRE_NOTHROW(pool.shutdown(true));  // idempotent
}

TEST_CASE("ThreadPool is usable through the Executor interface", "[threads][executor]") {
    aio::ThreadPool pool(2);
    aio::Executor& ex = pool;
    std::promise<std::thread::id> where;
    ex.submit([&where] { where.set_value(std::this_thread::get_id()); });
    REQUIRE(where.get_future().get() != std::this_thread::get_id());
    pool.shutdown(true);
}

TEST_CASE("cancelling the awaiter of to_thread does not stop the work already running",
          "[threads][executor][cancel]") {
    auto finished = std::make_shared<std::atomic<bool>>(false);
    bool awaiter_cancelled = false;
    auto body = [&]() -> aio::Task<> {
        auto t = aio::create_task(aio::to_thread([finished] {
            std::this_thread::sleep_for(100ms);
            *finished = true;
        }));
        co_await aio::sleep(20ms);
        t.cancel();
        try {
            co_await t;
        } catch (const aio::CancelledError&) {
            awaiter_cancelled = true;
        }
    };
    auto real0 = std::chrono::steady_clock::now();
    aio::run(body());  // shuts down the default executor
    REQUIRE(awaiter_cancelled);
    while (!*finished && std::chrono::steady_clock::now() - real0 < 5s) std::this_thread::sleep_for(5ms);
    REQUIRE(*finished);
}

// ---------------------------------------------------------------- call_soon_threadsafe

TEST_CASE("8 threads x 10,000 call_soon_threadsafe all run, on the loop thread", "[threads]") {
    aio::EventLoop loop;
    const auto loop_thread = std::this_thread::get_id();
    long count = 0;       // touched on the loop thread only
    long wrong_thread = 0;
    constexpr int threads = 8, per_thread = 10'000;

    std::thread coordinator([&] {
        std::vector<std::thread> producers;
        for (int t = 0; t < threads; ++t) {
            producers.emplace_back([&] {
                for (int i = 0; i < per_thread; ++i)
                    loop.call_soon_threadsafe([&] {
                        ++count;
                        if (std::this_thread::get_id() != loop_thread) ++wrong_thread;
                    });
            });
        }
        for (auto& p : producers) p.join();
        loop.call_soon_threadsafe([&] { loop.stop(); });  // queued after all of the above
    });
    loop.run_forever();
    coordinator.join();
    REQUIRE(count == threads * per_thread);
    REQUIRE(wrong_thread == 0);
}

TEST_CASE("call_soon_threadsafe wakes a loop that is blocked waiting", "[threads]") {
    aio::EventLoop loop;
    bool woke = false, fallback = false;
    auto real0 = std::chrono::steady_clock::now();
    std::thread poster([&] {
        std::this_thread::sleep_for(30ms);
        loop.call_soon_threadsafe([&] {
            woke = true;
            loop.stop();
        });
    });
    // Nothing else scheduled but a far timer: the loop blocks until woken.
    auto fallback_timer = loop.call_later(3s, [&] {
        fallback = true;
        loop.stop();
    });
    loop.run_forever();
    auto real = std::chrono::steady_clock::now() - real0;
    poster.join();
    fallback_timer.cancel();
    REQUIRE(woke);
    REQUIRE_FALSE(fallback);
    REQUIRE(real < 2s);
}

TEST_CASE("stop() may be called from another thread and wakes the loop", "[threads]") {
    aio::EventLoop loop;
    bool fallback = false;
    std::thread stopper([&] {
        std::this_thread::sleep_for(30ms);
        loop.stop();
    });
    auto fallback_timer = loop.call_later(3s, [&] {
        fallback = true;
        loop.stop();
    });
    auto real0 = std::chrono::steady_clock::now();
    loop.run_forever();
    auto real = std::chrono::steady_clock::now() - real0;
    stopper.join();
    fallback_timer.cancel();
    REQUIRE_FALSE(fallback);
    REQUIRE(real < 2s);
}

// ---------------------------------------------------------------- run_coroutine_threadsafe

namespace {
aio::Task<int> answer_on(std::thread::id* where) {
    co_await aio::sleep(5ms);
    *where = std::this_thread::get_id();
    co_return 42;
}

aio::Task<int> fails_on_loop() {
    co_await aio::sleep(1ms);
    throw std::length_error("failed inside the loop thread");
}
} // namespace

TEST_CASE("run_coroutine_threadsafe returns a future with the value", "[threads]") {
    LoopThread lt;
    std::thread::id where;
    std::future<int> fut = aio::run_coroutine_threadsafe(answer_on(&where), lt.loop());
    REQUIRE(fut.wait_for(10s) == std::future_status::ready);
    REQUIRE(fut.get() == 42);
    REQUIRE(where == lt.id());
    REQUIRE(where != std::this_thread::get_id());
}

TEST_CASE("run_coroutine_threadsafe passes the exception through the future", "[threads]") {
    LoopThread lt;
    auto fut = aio::run_coroutine_threadsafe(fails_on_loop(), lt.loop());
    auto fut2 = aio::run_coroutine_threadsafe(fails_on_loop(), lt.loop());
    REQUIRE(fut.wait_for(10s) == std::future_status::ready);
    REQUIRE(fut2.wait_for(10s) == std::future_status::ready);
    // Join the loop thread before touching the exceptions: the loop thread may drop its
    // reference to an exception object (in the promise) after we read it, and ThreadSanitizer
    // cannot see the exception's atomic reference count inside the uninstrumented libstdc++.
    lt.stop();
    REQUIRE_THROWS_AS(fut.get(), std::length_error);
    REQUIRE_THROWS_WITH(fut2.get(), "failed inside the loop thread");
}

TEST_CASE("run_coroutine_threadsafe from several threads at once", "[threads]") {
    LoopThread lt;
    std::vector<std::thread> callers;
    std::vector<int> results(4, 0);
    for (int i = 0; i < 4; ++i) {
        callers.emplace_back([&, i] {
            auto work = [](int v) -> aio::Task<int> {
                co_await aio::sleep(1ms);
                co_return v * 10;
            };
            auto fut = aio::run_coroutine_threadsafe(work(i), lt.loop());
            results[static_cast<std::size_t>(i)] = fut.get();
        });
    }
    for (auto& c : callers) c.join();
    REQUIRE(results == std::vector<int>{0, 10, 20, 30});
}

TEST_CASE("debug mode: calling a loop member from a foreign thread throws RuntimeError", "[threads][debug]") {
    aio::LoopOptions debug;
    debug.debug = true;
    LoopThread lt(debug);
    std::promise<void> running;
    lt.loop().call_soon_threadsafe([&running] { running.set_value(); });
    running.get_future().get();  // the loop is now running on its thread
    bool ran = false;
    REQUIRE_THROWS_AS(lt.loop().call_soon([&ran] { ran = true; }), aio::RuntimeError);
    REQUIRE_THROWS_AS(lt.loop().call_later(1ms, [&ran] { ran = true; }), aio::RuntimeError);
    // the thread-safe entry points still work
    std::promise<bool> done;
    lt.loop().call_soon_threadsafe([&done] { done.set_value(true); });
    REQUIRE(done.get_future().get());
    lt.stop();
    REQUIRE_FALSE(ran);
}

// ---------------------------------------------------------------- one loop per thread

TEST_CASE("4 threads each run their own EventLoop", "[threads]") {
    struct Seen {
        bool current_ok = false, running_ok = false, no_loop_before = false;
        bool running_outside_threw = false;
        int result = 0;
        aio::Clock::duration elapsed{};
    };
    std::vector<Seen> seen(4);
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([&seen, i] {
            auto& s = seen[static_cast<std::size_t>(i)];
            s.no_loop_before = aio::get_event_loop() == nullptr;
            aio::EventLoop loop(aio::LoopOptions{.debug = false, .virtual_time = true});
            aio::set_event_loop(&loop);
            s.current_ok = aio::get_event_loop() == &loop;
            try {
                (void)aio::get_running_loop();
            } catch (const aio::RuntimeError&) {
                s.running_outside_threw = true;
            }
            auto worker = [&]() -> aio::Task<int> {
                s.running_ok = &aio::get_running_loop() == &loop && aio::get_event_loop() == &loop;
                auto t0 = loop.time();
                auto sub = [](int v) -> aio::Task<int> {
                    co_await aio::sleep(std::chrono::minutes(v));
                    co_return v;
                };
                auto a = aio::create_task(sub(i + 1));
                auto b = aio::create_task(sub(i + 2));
                int r = co_await a + co_await b;
                s.elapsed = loop.time() - t0;
                co_return r;
            };
            s.result = loop.run_until_complete(worker());
            loop.close();
            aio::set_event_loop(nullptr);
        });
    }
    for (auto& t : threads) t.join();
    for (int i = 0; i < 4; ++i) {
        auto& s = seen[static_cast<std::size_t>(i)];
        INFO("thread " << i);
        REQUIRE(s.no_loop_before);
        REQUIRE(s.current_ok);
        REQUIRE(s.running_outside_threw);
        REQUIRE(s.running_ok);
        REQUIRE(s.result == 2 * i + 3);
        REQUIRE(s.elapsed >= std::chrono::minutes(i + 2));
    }
}

TEST_CASE("aio::run in several threads at once", "[threads]") {
    std::vector<int> results(4, -1);
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([&results, i] {
            auto body = [](int v) -> aio::Task<int> {
                co_await aio::sleep(1h);
                int w = co_await aio::to_thread([v] { return v + 100; });
                co_return w;
            };
            results[static_cast<std::size_t>(i)] = aio::run(body(i), virtual_time());
        });
    }
    for (auto& t : threads) t.join();
    REQUIRE(results == std::vector<int>{100, 101, 102, 103});
}

TEST_CASE("awaiting a task of another loop throws RuntimeError", "[threads][errors]") {
    aio_test::CountedBaseline baseline;
    {
        aio::EventLoop loop_a(aio::LoopOptions{.debug = false, .virtual_time = true});
        aio::EventLoop loop_b(aio::LoopOptions{.debug = false, .virtual_time = true});
        loop_a.set_exception_handler([](aio::EventLoop&, const aio::ExceptionContext&) {});
        auto forever = [](aio_test::Counted) -> aio::Task<int> {
            co_await aio::sleep(24h);
            co_return 1;
        };
        aio::Task<int> foreign = loop_a.create_task(forever(aio_test::Counted{}));
        std::string message;
        bool threw = false;
        auto body = [&]() -> aio::Task<> {
            try {
                (void)co_await foreign;
            } catch (const aio::RuntimeError& e) {
                threw = true;
                message = e.what();
            }
        };
        loop_b.run_until_complete(body());
        REQUIRE(threw);
        REQUIRE_THAT(message, Catch::Contains("different") && Catch::Contains("loop"));
    }
    REQUIRE(baseline.leaked() == 0);
}

// ---------------------------------------------------------------- virtual time and I/O

TEST_CASE("virtual time: a loop waiting only on I/O blocks as usual", "[threads][virtual][io]") {
    Pipe p;
    std::thread writer([&p] {
        std::this_thread::sleep_for(50ms);
        p.write("late");
    });
    std::string got;
    auto body = [&]() -> aio::Task<> {
        co_await aio::wait_readable(p.r);
        got = p.read_available();
    };
    auto real0 = std::chrono::steady_clock::now();
    aio::run(body(), virtual_time());
    writer.join();
    REQUIRE(got == "late");
    REQUIRE(std::chrono::steady_clock::now() - real0 >= 40ms);
}

TEST_CASE("virtual time: a cancelled sleep leaves the timer heap (time does not jump to it)",
          "[threads][virtual][cancel]") {
    Pipe p;
    aio::Clock::duration elapsed{};
    std::thread writer;
    auto body = [&]() -> aio::Task<> {
        auto& loop = aio::get_running_loop();
        auto t0 = loop.time();
        auto sleeper = aio::create_task(sleep_task(1h));
        co_await aio::sleep(1ms);
        sleeper.cancel();
        try {
            co_await sleeper;
        } catch (const aio::CancelledError&) {
        }
        // Now only I/O is pending; a stale 1h timer would make virtual time jump.
        writer = std::thread([&p] {
            std::this_thread::sleep_for(30ms);
            p.write("x");
        });
        co_await aio::wait_readable(p.r);
        elapsed = loop.time() - t0;
    };
    aio::run(body(), virtual_time());
    writer.join();
    REQUIRE(elapsed < 1h);
}
