// rate_limiter.cpp — a Semaphore that lets at most 3 "requests" run at once (asyncio's
// `async with semaphore:` pattern).
//
//     limiter = asyncio.Semaphore(3)
//     async def fetch(i, duration):
//         async with limiter:
//             await asyncio.sleep(duration)
//
// Ten requests are started together; the semaphore makes the others wait for a free slot,
// and hands each freed slot to the request that has waited longest (FIFO). The loop runs on
// the test clock, so the times printed are exact and the program ends at once.
//
// Output:
//     t=   0 ms  request 0 starts (1 in flight)
//     t=   0 ms  request 1 starts (2 in flight)
//     t=   0 ms  request 2 starts (3 in flight)
//     t= 100 ms  request 0 done
//     t= 100 ms  request 3 starts (3 in flight)
//     ...
//     t= 700 ms  request 8 done
//     10 requests in 700 ms, max concurrency observed: 3 (limit 3)

#include <aio/aio.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <vector>

using namespace std::chrono_literals;

namespace {

constexpr int limit = 3;

struct Stats {
    int in_flight = 0;
    int max_in_flight = 0;
};

long long ms_since(aio::Clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(aio::get_running_loop().time() - start).count();
}

aio::Task<> request(int i, std::chrono::milliseconds duration, aio::Semaphore& limiter, Stats& stats,
                    aio::Clock::time_point start) {
    auto slot = co_await limiter.scoped(); // waits while `limit` requests run; released at scope exit
    stats.max_in_flight = std::max(stats.max_in_flight, ++stats.in_flight);
    fmt::print("t={:4} ms  request {} starts ({} in flight)\n", ms_since(start), i, stats.in_flight);
    co_await aio::sleep(duration); // the "network"
    --stats.in_flight;
    fmt::print("t={:4} ms  request {} done\n", ms_since(start), i);
}

aio::Task<> main_task() {
    aio::Semaphore limiter(limit);
    Stats stats;
    const auto start = aio::get_running_loop().time();
    std::vector<aio::Task<>> requests;
    for (int i = 0; i < 10; ++i) {
        const auto duration = std::chrono::milliseconds(100 * (1 + i % 3)); // 100, 200, 300 ms
        requests.push_back(aio::create_task(request(i, duration, limiter, stats, start)));
    }
    co_await aio::gather(requests);
    fmt::print("10 requests in {} ms, max concurrency observed: {} (limit {})\n", ms_since(start),
               stats.max_in_flight, limit);
}

} // namespace

int main() {
    aio::run(main_task(), {.virtual_time = true});
}
