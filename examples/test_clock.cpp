// test_clock.cpp — the loop's test clock (virtual time).
//
// With RunOptions{.virtual_time = true} the loop's clock only moves when the
// loop has nothing else to do, and then jumps straight to the next timer. Code
// that sleeps for an hour finishes at once, in the same order as it would
// with the real clock — handy for testing timeouts and schedules (like Trio's
// autojump clock or Tokio's paused time; asyncio has no built-in equivalent).
//
// Two tasks sleep concurrently for 1 hour and 10 minutes: the loop's time
// advances by 60 virtual minutes while almost no real time passes.
//
// Output:
//     short: woke up after 10 min of loop time
//     long: woke up after 60 min of loop time
//     loop time elapsed: 60 min
//     wall time elapsed: 0 ms

#include <aio/aio.hpp>

#include <fmt/core.h>

#include <chrono>
#include <string>

using namespace std::chrono_literals;

namespace {

long minutes_since(aio::Clock::time_point start) {
    const auto elapsed = aio::get_running_loop().time() - start;
    return static_cast<long>(std::chrono::duration_cast<std::chrono::minutes>(elapsed).count());
}

aio::Task<> sleeper(std::string name, aio::Clock::duration how_long) {
    const auto start = aio::get_running_loop().time(); // the loop's (virtual) now
    co_await aio::sleep(how_long);
    fmt::print("{}: woke up after {} min of loop time\n", name, minutes_since(start));
}

aio::Task<> main_task() {
    const auto loop_start = aio::get_running_loop().time();
    const auto wall_start = std::chrono::steady_clock::now();

    aio::Task<> a = aio::create_task(sleeper("long", 1h));
    aio::Task<> b = aio::create_task(sleeper("short", 10min));
    co_await a;
    co_await b;

    const auto wall = std::chrono::steady_clock::now() - wall_start;
    fmt::print("loop time elapsed: {} min\n", minutes_since(loop_start));
    fmt::print("wall time elapsed: {} ms\n",
               std::chrono::duration_cast<std::chrono::milliseconds>(wall).count());
}

} // namespace

int main() {
    aio::run(main_task(), {.virtual_time = true});
}
