// 5. gather: wait for 100,000 ready tasks (children that co_return at once) and collect their
// results in order; ns per child. Each child: allocate its frame, schedule it, run it on a
// later turn, record its result, free the frame; plus the gather's own bookkeeping.
//   aio:          co_await aio::gather(std::vector<aio::Task<int>>) of 100,000 lazy children
//                 (gather makes each a task, waits for all, returns std::vector<int>)
//   hand-written: hw::spawn every child, then co_await each in order into a std::vector<int>
//                 (the least a gather can do on that scheduler)
//   Asio:         asio::experimental::make_parallel_group over a std::vector of
//                 co_spawn(ex, child(i), deferred) operations, async_wait(wait_for_all(),
//                 use_awaitable): gives the completion order, exceptions and values
// No target: the numbers are for the README.
#include "bench_config.hpp"

#include <vector>

#if AIO_BENCH_WITH_ASIO
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#endif

namespace {

constexpr int kChildren = 100'000;

#if AIO_BENCH_WITH_AIO
AIO_BENCH_NOINLINE aio::Task<int> aio_child(int i) { co_return i; }
aio::Task<double> aio_main() {
    auto t0 = bench::wall_ns();
    long sum = 0;
    {
        std::vector<aio::Task<int>> children;
        children.reserve(kChildren);
        for (int i = 0; i < kChildren; ++i) children.push_back(aio_child(i));
        std::vector<int> results = co_await aio::gather(std::move(children));
        for (int r : results) sum += r;
    }
    auto t1 = bench::wall_ns();
    bench::do_not_optimize(sum);
    co_return double(t1 - t0) / kChildren;
}
double run_aio() { return aio::run(aio_main()); }
#endif

AIO_BENCH_NOINLINE hw::Task<int> hw_child(int i) { co_return i; }
hw::Task<double> hw_main() {
    auto t0 = bench::wall_ns();
    long sum = 0;
    {
        std::vector<hw::Task<int>> children;
        children.reserve(kChildren);
        for (int i = 0; i < kChildren; ++i) children.push_back(hw::spawn(hw_child(i)));
        std::vector<int> results;
        results.reserve(kChildren);
        for (auto& c : children) results.push_back(co_await c);
        for (int r : results) sum += r;
    } // frames freed here, inside the timing as in the other columns
    auto t1 = bench::wall_ns();
    bench::do_not_optimize(sum);
    co_return double(t1 - t0) / kChildren;
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
    {
        using Op = decltype(asio::co_spawn(ex, asio_child(0), asio::deferred));
        std::vector<Op> ops;
        ops.reserve(kChildren);
        for (int i = 0; i < kChildren; ++i) ops.push_back(asio::co_spawn(ex, asio_child(i), asio::deferred));
        auto [order, errors, values] = co_await asio::experimental::make_parallel_group(std::move(ops))
                                           .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
        bench::do_not_optimize(order.size() + errors.size());
        for (int v : values) sum += v;
    }
    auto t1 = bench::wall_ns();
    bench::do_not_optimize(sum);
    out = double(t1 - t0) / kChildren;
}
double run_asio() { return bench::run_on_io_context(asio_main); }
#endif

} // namespace

int main(int argc, char** argv) {
    auto opt = bench::parse_args(argc, argv);
    bench::Runner r("gather", "gather: 100k ready tasks", "wall ns per child of one gather");
    bench::add_columns(r, AIO_BENCH_AIO(run_aio), run_hw, AIO_BENCH_ASIO(run_asio));
    r.run(opt);
    return r.report(opt, {}, "none (reported)");
}
