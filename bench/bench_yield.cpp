// 1. yield: 200 tasks x 1000 yields each; ns per yield.
//   aio:          200 aio::create_task'ed tasks, each `co_await aio::sleep(0s)` 1000 times
//   hand-written: 200 spawned hw::Tasks, each yielding 1000 times through the ring-buffer ready queue
//   Asio:         200 co_spawn'ed awaitables, each `co_await asio::post(ex, use_awaitable)` 1000 times
// Target: aio <= 2x hand-written and >= 20x faster than Asio.
#include "bench_config.hpp"

#include <chrono>
#include <vector>

namespace {

constexpr int kTasks = 200;
constexpr int kYields = 1000;
constexpr double kOps = double(kTasks) * kYields;

#if AIO_BENCH_WITH_AIO
aio::Task<> aio_yielder(int n) {
    for (int i = 0; i < n; ++i) co_await aio::sleep(std::chrono::seconds(0));
}
aio::Task<double> aio_main() {
    auto t0 = bench::wall_ns();
    std::vector<aio::Task<>> tasks;
    tasks.reserve(kTasks);
    for (int i = 0; i < kTasks; ++i) tasks.push_back(aio::create_task(aio_yielder(kYields)));
    for (auto& t : tasks) co_await t;
    auto t1 = bench::wall_ns();
    co_return double(t1 - t0) / kOps;
}
double run_aio() { return aio::run(aio_main()); }
#endif

hw::Task<> hw_yielder(int n) {
    for (int i = 0; i < n; ++i) co_await hw::yield();
}
hw::Task<double> hw_main() {
    auto t0 = bench::wall_ns();
    std::vector<hw::Task<>> tasks;
    tasks.reserve(kTasks);
    for (int i = 0; i < kTasks; ++i) tasks.push_back(hw::spawn(hw_yielder(kYields)));
    for (auto& t : tasks) co_await t;
    auto t1 = bench::wall_ns();
    co_return double(t1 - t0) / kOps;
}
double run_hw() {
    hw::Scheduler sched;
    return sched.run(hw_main());
}

#if AIO_BENCH_WITH_ASIO
asio::awaitable<void> asio_yielder(int n) {
    auto ex = co_await asio::this_coro::executor;
    for (int i = 0; i < n; ++i) co_await asio::post(ex, asio::use_awaitable);
}
double run_asio() {
    asio::io_context ctx(1);   // concurrency hint: one thread
    auto t0 = bench::wall_ns();
    for (int i = 0; i < kTasks; ++i) asio::co_spawn(ctx, asio_yielder(kYields), asio::detached);
    ctx.run();
    auto t1 = bench::wall_ns();
    return double(t1 - t0) / kOps;
}
#endif

}  // namespace

int main(int argc, char** argv) {
    auto opt = bench::parse_args(argc, argv);
    bench::Runner r("yield", "yield: 200 tasks x 1000 sleep(0)", "wall ns per yield");
    bench::add_columns(r, AIO_BENCH_AIO(run_aio), run_hw, AIO_BENCH_ASIO(run_asio));
    r.run(opt);
    auto a = r.med(bench::kAio), h = r.med(bench::kHand), s = r.med(bench::kAsio);
    return r.report(opt,
                    {bench::target_ratio_at_most("aio <= 2x hand-written", a, h, 2.0),
                     bench::target_ratio_at_least("aio >= 20x faster than Asio", s, a, 20.0)},
                    "<= 2x hand-written, >= 20x faster than Asio");
}
