// producer_consumer.cpp — the example of asyncio's Queue documentation, in C++:
// workers take jobs from a queue, the producer waits with queue.join() until every job is
// done, then cancels the workers.
//
//     async def worker(name, queue):
//         while True:
//             sleep_for = await queue.get()
//             await asyncio.sleep(sleep_for)
//             queue.task_done()
//             print(f'{name} has slept for {sleep_for:.2f} seconds')
//
//     async def main():
//         queue = asyncio.Queue()
//         for _ in range(20):
//             queue.put_nowait(random.uniform(0.05, 1.0))
//         tasks = [asyncio.create_task(worker(f'worker-{i}', queue)) for i in range(3)]
//         await queue.join()
//         for task in tasks:
//             task.cancel()
//         await asyncio.gather(*tasks, return_exceptions=True)
//
// Here the queue is bounded (5 jobs), so the producer puts while the workers consume and
// waits whenever the queue is full. The job lengths come from a fixed seed and the loop runs
// on the test clock, so the output is the same on every run and the program ends at once.
//
// Output (20 worker lines, abridged):
//     worker-1 has slept for 0.80 seconds
//     worker-2 has slept for 0.82 seconds
//     worker-0 has slept for 0.93 seconds
//     ...
//     ====
//     3 workers slept in parallel for 4.99 seconds
//     total expected sleep time: 14.13 seconds
//     jobs done: worker-0 7, worker-1 7, worker-2 6

#include <aio/aio.hpp>

#include <fmt/core.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using Millis = std::chrono::milliseconds;

namespace {

std::array<int, 3> jobs_done{};

aio::Task<> worker(int id, aio::Queue<Millis>& queue) {
    for (;;) {
        const Millis sleep_for = co_await queue.get(); // waits while the queue is empty
        co_await aio::sleep(sleep_for);
        queue.task_done();
        ++jobs_done[static_cast<std::size_t>(id)];
        fmt::print("worker-{} has slept for {:.2f} seconds\n", id, static_cast<double>(sleep_for.count()) / 1000);
    }
}

aio::Task<> main_task() {
    aio::Queue<Millis> queue(5); // at most 5 jobs waiting

    std::vector<aio::Task<>> tasks;
    for (int i = 0; i < 3; ++i) tasks.push_back(aio::create_task(worker(i, queue), "worker-" + std::to_string(i)));

    // Job lengths between 0.05 s and 1 s: std::mt19937 is the same everywhere (the standard
    // distributions are not), so scale its output by hand.
    std::mt19937 random(2024);
    Millis total_sleep_time{0};
    const auto started_at = aio::get_running_loop().time();
    for (int job = 0; job < 20; ++job) {
        const Millis sleep_for{50 + static_cast<int>(random() % 951)};
        total_sleep_time += sleep_for;
        co_await queue.put(sleep_for); // waits while 5 jobs are queued
    }

    co_await queue.join(); // until every job is task_done()
    const auto total_slept_for = aio::get_running_loop().time() - started_at;

    for (auto& task : tasks) task.cancel(); // the workers loop forever: cancel them
    co_await aio::gather(aio::return_exceptions, tasks);

    fmt::print("====\n");
    fmt::print("3 workers slept in parallel for {:.2f} seconds\n",
               std::chrono::duration<double>(total_slept_for).count());
    fmt::print("total expected sleep time: {:.2f} seconds\n", std::chrono::duration<double>(total_sleep_time).count());
    fmt::print("jobs done: worker-0 {}, worker-1 {}, worker-2 {}\n", jobs_done[0], jobs_done[1], jobs_done[2]);
}

} // namespace

int main() {
    aio::run(main_task(), {.virtual_time = true});
}
