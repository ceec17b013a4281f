// cancellation.cpp — cancelling a task, as asyncio's Task.cancel(msg).
//
// task.cancel(msg) throws aio::CancelledError into the task at the co_await
// where it is suspended (here: a one-hour sleep, which leaves the timer heap
// at once). The task may catch it to clean up, and should rethrow it: a task
// that swallows the error and returns normally is not cancelled.
//
// aio::CancelledError does not derive from std::exception (like asyncio's
// CancelledError, which stopped deriving from Exception in Python 3.8), so a
// `catch (const std::exception&)` meant for real errors does not swallow it.
//
// Output:
//     job: started, sleeping for an hour
//     main: cancelling the job
//     job: cancelled ("shutting down"), cleaning up
//     main: job.cancelled() = true, message = "shutting down"
//     stubborn: cancelled ("stop"), but carries on
//     main: stubborn.cancelled() = false, result = 7

#include <aio/aio.hpp>

#include <fmt/core.h>

#include <chrono>
#include <exception>
#include <stdexcept>

using namespace std::chrono_literals;

namespace {

aio::Task<> job() {
    fmt::print("job: started, sleeping for an hour\n");
    try {
        co_await aio::sleep(1h);
        fmt::print("job: never printed\n");
    } catch (const std::exception& e) {
        // Real errors would land here; cancellation does not.
        fmt::print("job: error: {}\n", e.what());
    } catch (const aio::CancelledError& e) {
        fmt::print("job: cancelled (\"{}\"), cleaning up\n", e.message());
        throw; // let the cancellation finish the task
    }
}

// Catches the cancellation and returns a value: such a task is not cancelled.
aio::Task<int> stubborn() {
    try {
        co_await aio::sleep(1h);
    } catch (const aio::CancelledError& e) {
        fmt::print("stubborn: cancelled (\"{}\"), but carries on\n", e.message());
    }
    co_return 7;
}

aio::Task<> main_task() {
    aio::Task<> task = aio::create_task(job(), "job");
    co_await aio::sleep(100ms); // let it start and reach its sleep

    fmt::print("main: cancelling the job\n");
    task.cancel("shutting down");

    try {
        co_await task; // awaiting a cancelled task throws CancelledError here too
    } catch (const aio::CancelledError& e) {
        fmt::print("main: job.cancelled() = {}, message = \"{}\"\n", task.cancelled(), e.message());
    }

    aio::Task<int> other = aio::create_task(stubborn(), "stubborn");
    co_await aio::sleep(0s); // one loop turn: let it reach its sleep
    other.cancel("stop");
    const int result = co_await other;
    fmt::print("main: stubborn.cancelled() = {}, result = {}\n", other.cancelled(), result);
}

} // namespace

int main() {
    aio::run(main_task());
}
