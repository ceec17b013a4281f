// 2. lazy create + await + destroy: 1,000,000 times `co_await child(i)`, where
// child is a task coroutine returning int that co_returns at once. Each op
// allocates the child's frame, runs it inline (no ready-queue trip), takes the
// result and frees the frame. ns per op.
//   aio:          aio::Task<int>, awaited inside aio::run
//   hand-written: hw::Task<int> (lazy, symmetric transfer, frame from operator new)
//   Asio:         asio::awaitable<int> awaited from an awaitable<void> (Asio recycles frames per thread)
// Target: aio <= 1.5x hand-written.
#include "bench_config.hpp"

#include <vector>

namespace {

constexpr int kOpsN = 1'000'000;

#if AIO_BENCH_WITH_AIO
AIO_BENCH_NOINLINE aio::Task<int> aio_child(int i) { co_return i; }
aio::Task<double> aio_main() {
    auto t0 = bench::wall_ns();
    long sum = 0;
    for (int i = 0; i < kOpsN; ++i) sum += co_await aio_child(i);
    auto t1 = bench::wall_ns();
    bench::do_not_optimize(sum);
    co_return double(t1 - t0) / kOpsN;
}
double run_aio() { return aio::run(aio_main()); }
#endif

AIO_BENCH_NOINLINE hw::Task<int> hw_child(int i) { co_return i; }
hw::Task<double> hw_main() {
    auto t0 = bench::wall_ns();
    long sum = 0;
    for (int i = 0; i < kOpsN; ++i) sum += co_await hw_child(i);
    auto t1 = bench::wall_ns();
    bench::do_not_optimize(sum);
    co_return double(t1 - t0) / kOpsN;
}
double run_hw() {
    hw::Scheduler sched;
    return sched.run(hw_main());
}

#if AIO_BENCH_WITH_ASIO
AIO_BENCH_NOINLINE asio::awaitable<int> asio_child(int i) { co_return i; }
asio::awaitable<void> asio_main(double& out) {
    auto t0 = bench::wall_ns();
    long sum = 0;
    for (int i = 0; i < kOpsN; ++i) sum += co_await asio_child(i);
    auto t1 = bench::wall_ns();
    bench::do_not_optimize(sum);
    out = double(t1 - t0) / kOpsN;
}
double run_asio() { return bench::run_on_io_context(asio_main); }
#endif

}  // namespace

int main(int argc, char** argv) {
    auto opt = bench::parse_args(argc, argv);
    bench::Runner r("lazy", "lazy await: 1M co_await child()", "wall ns per create+await+destroy");
    bench::add_columns(r, AIO_BENCH_AIO(run_aio), run_hw, AIO_BENCH_ASIO(run_asio));
    r.run(opt);
    auto a = r.med(bench::kAio), h = r.med(bench::kHand);
    return r.report(opt, {bench::target_ratio_at_most("aio <= 1.5x hand-written", a, h, 1.5)},
                    "<= 1.5x hand-written");
}
