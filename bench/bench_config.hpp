// Which columns a benchmark program is built with. CMake defines both macros;
// for a standalone build define them on the command line, e.g.
//   g++ -O2 -std=c++20 -DAIO_BENCH_WITH_AIO=0 -I bench bench/bench_yield.cpp
#pragma once

#ifndef AIO_BENCH_WITH_AIO
#define AIO_BENCH_WITH_AIO 1
#endif
#ifndef AIO_BENCH_WITH_ASIO
#if __has_include(<boost/asio/awaitable.hpp>)
#define AIO_BENCH_WITH_ASIO 1
#else
#define AIO_BENCH_WITH_ASIO 0
#endif
#endif

#if AIO_BENCH_WITH_AIO
#include <aio/aio.hpp>
#endif

#if AIO_BENCH_WITH_ASIO
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
namespace asio = boost::asio;
#define AIO_BENCH_ASIO_MISSING ""
#else
#define AIO_BENCH_ASIO_MISSING "Boost.Asio not found at configure time"
#endif

#include "bench_util.hpp"
#include "handwritten_scheduler.hpp"

// Marks the child coroutines of the lazy / create_task benchmarks so that no
// compiler can inline the ramp and elide the frame allocation (HALO) in one
// column but not another. g++ 12 never elides; clang can.
#if defined(__GNUC__)
#define AIO_BENCH_NOINLINE [[gnu::noinline]]
#else
#define AIO_BENCH_NOINLINE
#endif

namespace bench {

/// Adds the aio, hand-written and Asio columns to `r`; a column this build lacks (nullptr)
/// shows as n/a with the reason.
inline void add_columns(Runner& r, double (*aio)(), double (*hand)(), double (*asio)()) {
    if (aio)
        r.add(kAio, aio);
    else
        r.add_missing(kAio, "built without aio");
    r.add(kHand, hand);
    if (asio)
        r.add(kAsio, asio);
    else
        r.add_missing(kAsio, AIO_BENCH_ASIO_MISSING);
}

} // namespace bench

// The name of a column's function, or nullptr when the build lacks that column.
#if AIO_BENCH_WITH_AIO
#define AIO_BENCH_AIO(fn) (&fn)
#else
#define AIO_BENCH_AIO(fn) nullptr
#endif
#if AIO_BENCH_WITH_ASIO
#define AIO_BENCH_ASIO(fn) (&fn)
#else
#define AIO_BENCH_ASIO(fn) nullptr
#endif

#if AIO_BENCH_WITH_ASIO
namespace bench {
/// Runs `main(out)` (an asio::awaitable<void> that stores ns per op in `out`) on a
/// single-threaded io_context and returns `out`.
template <class Main>
double run_on_io_context(Main main) {
    asio::io_context ctx(1); // concurrency hint: one thread
    double out = 0;
    asio::co_spawn(ctx, main(out), asio::detached);
    ctx.run();
    return out;
}
} // namespace bench
#endif
