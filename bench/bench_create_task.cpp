// 3. create_task + await: 100,000 times `co_await create_task(child(i))`, where
// child co_returns at once. Each op allocates the child's frame, schedules it
// on the ready queue, suspends the parent, runs the child on the next loop
// turn, resumes the parent with the result and frees the frame. ns per op.
//   aio:          co_await aio::create_task(child(i))
//   hand-written: co_await hw::spawn(child(i)) (ring-buffer ready queue; the child's final
//                 suspend transfers straight to the parent)
//   Asio:         co_await asio::co_spawn(ex, child(i), use_awaitable)
// Target: aio <= 60 ns per op.
#include "bench_config.hpp"

namespace {

constexpr int kOpsN = 100'000;

#if AIO_BENCH_WITH_AIO
AIO_BENCH_NOINLINE aio::Task<int> aio_child(int i) { co_return i; }
aio::Task<double> aio_main() {
    auto t0 = bench::wall_ns();
    long sum = 0;
    for (int i = 0; i < kOpsN; ++i) sum += co_await aio::create_task(aio_child(i));
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
    for (int i = 0; i < kOpsN; ++i) sum += co_await hw::spawn(hw_child(i));
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
    auto ex = co_await asio::this_coro::executor;
    auto t0 = bench::wall_ns();
    long sum = 0;
    for (int i = 0; i < kOpsN; ++i) sum += co_await asio::co_spawn(ex, asio_child(i), asio::use_awaitable);
    auto t1 = bench::wall_ns();
    bench::do_not_optimize(sum);
    out = double(t1 - t0) / kOpsN;
}
double run_asio() { return bench::run_on_io_context(asio_main); }
#endif

}  // namespace

int main(int argc, char** argv) {
    auto opt = bench::parse_args(argc, argv);
    bench::Runner r("create_task", "create_task + await: 100k", "wall ns per create_task+await");
    bench::add_columns(r, AIO_BENCH_AIO(run_aio), run_hw, AIO_BENCH_ASIO(run_asio));
    r.run(opt);
    auto a = r.med(bench::kAio);
    return r.report(opt, {bench::target_abs_at_most("aio <= 60 ns", a, 60.0)}, "<= 60 ns");
}
