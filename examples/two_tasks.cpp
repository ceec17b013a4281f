// two_tasks.cpp — running coroutines concurrently with create_task, as in
// asyncio's tutorial ("Coroutines and Tasks"):
//
//     async def work(name, delay):
//         print(f"{name} started")
//         await asyncio.sleep(delay)
//         print(f"{name} done")
//
//     async def main():
//         task1 = asyncio.create_task(work("Task1", 2))
//         task2 = asyncio.create_task(work("Task2", 1))
//         await task1
//         await task2
//
// Both tasks sleep at the same time, so the program takes about 2 s, not 3 s.
//
// Output:
//     Task1 started
//     Task2 started
//     Task2 done
//     Task1 done
//     total: 2.0 s

#include <aio/aio.hpp>

#include <fmt/core.h>

#include <chrono>
#include <string>

using namespace std::chrono_literals;

// Parameters are taken by value: a coroutine keeps its own copies in its frame
// and may run long after the caller's arguments are gone. (A `const std::string&`
// parameter here would dangle once the caller's temporary dies.)
aio::Task<> work(std::string name, std::chrono::seconds delay) {
    fmt::print("{} started\n", name);
    co_await aio::sleep(delay);
    fmt::print("{} done\n", name);
}

aio::Task<> main_task() {
    const auto start = std::chrono::steady_clock::now(); // the real clock

    // create_task schedules each coroutine on the running loop: they start on
    // the loop's next turn, in the order they were created, and run concurrently.
    aio::Task<> task1 = aio::create_task(work("Task1", 2s));
    aio::Task<> task2 = aio::create_task(work("Task2", 1s));

    // Wait for both. Task2 finishes first, while we are still waiting for task1.
    co_await task1;
    co_await task2;

    const std::chrono::duration<double> total = std::chrono::steady_clock::now() - start;
    fmt::print("total: {:.1f} s\n", total.count());
}

int main() {
    aio::run(main_task());
}
