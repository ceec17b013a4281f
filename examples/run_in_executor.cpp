// run_in_executor.cpp — calling blocking code without blocking the event loop.
//
// A coroutine must never block: while blocking_io() sleeps on the loop's
// thread, no other task could run. loop.run_in_executor() (asyncio's
// loop.run_in_executor) and aio::to_thread() (asyncio.to_thread) run the
// function on a thread of the loop's default executor, a thread pool, and let
// the calling task co_await its result. Meanwhile the loop keeps running other
// tasks: here a ticker prints every 250 ms.
//
// Output (tick times vary a little):
//     ticker: tick at 0.25 s
//     ...
//     run_in_executor: 21 * 2 = 42 (computed on a worker thread)
//     ...
//     to_thread: 50 * 2 = 100 (computed on a worker thread)
//     blocking calls took 2.0 s; the loop ticked 7 times meanwhile

#include <aio/aio.hpp>

#include <fmt/core.h>

#include <chrono>
#include <thread>

using namespace std::chrono_literals;

namespace {

const std::thread::id main_thread = std::this_thread::get_id();

// An ordinary blocking function: it knows nothing about aio.
int blocking_io(int x) {
    std::this_thread::sleep_for(1s);
    return x * 2;
}

const char* where() {
    return std::this_thread::get_id() == main_thread ? "the loop's thread" : "a worker thread";
}

int ticks = 0;

// Runs on the loop, forever, until it is cancelled.
aio::Task<> ticker(aio::Clock::time_point start) {
    for (;;) {
        co_await aio::sleep(250ms);
        ++ticks;
        const std::chrono::duration<double> at = aio::get_running_loop().time() - start;
        fmt::print("ticker: tick at {:.2f} s\n", at.count());
    }
}

aio::Task<> main_task() {
    aio::EventLoop& loop = aio::get_running_loop();
    const auto start = loop.time();
    aio::Task<> tick = aio::create_task(ticker(start), "ticker");

    // nullptr: the loop's default executor. Extra arguments are passed to the function.
    const int a = co_await loop.run_in_executor(nullptr, [](int x) {
        fmt::print("run_in_executor: blocking_io({}) runs on {}\n", x, where());
        return blocking_io(x);
    }, 21);
    fmt::print("run_in_executor: 21 * 2 = {} (back on {})\n", a, where());

    // The shorthand for the same thing.
    const int b = co_await aio::to_thread(blocking_io, 50);
    fmt::print("to_thread: 50 * 2 = {} (back on {})\n", b, where());

    const std::chrono::duration<double> took = loop.time() - start;
    fmt::print("blocking calls took {:.1f} s; the loop ticked {} times meanwhile\n", took.count(),
               ticks);

    // Stop the ticker. (aio::run would cancel it anyway before returning.)
    tick.cancel();
}

} // namespace

int main() {
    aio::run(main_task());
    return ticks >= 4 ? 0 : 1; // a blocked loop would not have ticked
}
