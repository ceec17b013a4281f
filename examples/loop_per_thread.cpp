// loop_per_thread.cpp — one event loop per thread.
//
// An aio::EventLoop belongs to the thread that runs it; tasks on different
// loops never share a loop. This program shows the two ways threads meet:
//
//  1. Independent workers: each std::thread makes its own loop
//     (asyncio.new_event_loop()), sets it as the thread's current loop and
//     runs a coroutine on it with run_until_complete.
//  2. Talking to another thread's loop: the only loop members that may be
//     called from another thread are call_soon_threadsafe, stop and
//     aio::run_coroutine_threadsafe, which hands back a std::future.
//
// Output (the workers' lines interleave differently on each run):
//     worker 1: step 1 ...
//     ...
//     worker 1 -> 6
//     worker 2 -> 12
//     worker 3 -> 18
//     service loop: hello from the main thread
//     main: add(20, 22) on the service loop = 42
//     service loop stopped

#include <aio/aio.hpp>

#include <fmt/core.h>

#include <chrono>
#include <future>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

// --- 1. independent loops --------------------------------------------------

aio::Task<int> worker(int id) {
    int sum = 0;
    for (int step = 1; step <= 3; ++step) {
        co_await aio::sleep(10ms * id);
        fmt::print("worker {}: step {}\n", id, step);
        sum += step * id;
    }
    co_return sum;
}

void independent_loops() {
    constexpr int n = 3;
    std::vector<int> results(n + 1);
    std::vector<std::thread> threads;
    for (int id = 1; id <= n; ++id) {
        threads.emplace_back([id, &results] {
            aio::EventLoop loop;         // asyncio.new_event_loop()
            aio::set_event_loop(&loop);  // asyncio.set_event_loop(loop)
            results[id] = loop.run_until_complete(worker(id));
            aio::set_event_loop(nullptr);
            loop.close();
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    for (int id = 1; id <= n; ++id) {
        fmt::print("worker {} -> {}\n", id, results[id]);
    }
}

// --- 2. calling into another thread's loop ---------------------------------

aio::Task<int> add(int a, int b) {
    co_await aio::sleep(10ms); // runs on the service loop, like any task there
    co_return a + b;
}

void cross_thread_calls() {
    // The service thread makes its loop and tells the main thread where it is.
    std::promise<aio::EventLoop*> ready;
    std::thread service([&ready] {
        aio::EventLoop loop;
        aio::set_event_loop(&loop);
        ready.set_value(&loop);
        loop.run_forever(); // until someone calls stop()
        aio::set_event_loop(nullptr);
        loop.close();
        fmt::print("service loop stopped\n");
    });
    aio::EventLoop& loop = *ready.get_future().get();

    // A plain callback, run on the service thread by its loop.
    loop.call_soon_threadsafe([] { fmt::print("service loop: hello from the main thread\n"); });

    // A coroutine, run as a task of the service loop; the future gets its result.
    std::future<int> sum = aio::run_coroutine_threadsafe(add(20, 22), loop);
    fmt::print("main: add(20, 22) on the service loop = {}\n", sum.get());

    // stop() is thread-safe too; here it goes through the loop's queue.
    loop.call_soon_threadsafe([&loop] { loop.stop(); });
    service.join();
}

} // namespace

int main() {
    independent_loops();
    cross_thread_calls();
}
