// hello_world.cpp — asyncio's first example, in C++:
//
//     import asyncio
//
//     async def main():
//         print('hello')
//         await asyncio.sleep(1)
//         print('world')
//
//     asyncio.run(main())
//
// Output:
//     hello
//     world          (one second later)

#include <aio/aio.hpp>

#include <fmt/core.h>

#include <chrono>

using namespace std::chrono_literals;

// A coroutine: it returns aio::Task<> and uses co_await. Calling main_task()
// runs nothing yet; aio::run() starts it on a new event loop.
aio::Task<> main_task() {
    fmt::print("hello\n");
    co_await aio::sleep(1s); // suspends this task; the loop is free for others meanwhile
    fmt::print("world\n");
}

int main() {
    aio::run(main_task()); // asyncio.run(main()): create a loop, run main to completion, close it
}
