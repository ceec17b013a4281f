// 7. pipe ping-pong: two tasks pass one byte back and forth over a pair of non-blocking pipes
// (pipe2 O_NONBLOCK | O_CLOEXEC), 200,000 round trips. Task A writes pipe 1 and reads pipe 2;
// task B reads pipe 1 and writes pipe 2. ns per round trip.
//   aio:                the I/O driver's operations: `co_await aio::read_some(in, buf)` and
//                       `co_await aio::write_some(out, byte)` (try the syscall, wait only on
//                       EAGAIN; what the library's streams and sockets use)
//   aio wait_readable:  `co_await aio::wait_readable(in)`, then ::read and ::write by hand
//   hand-written:       raw epoll, no coroutines: each read end registered once with
//                       EPOLLIN | EPOLLET, a plain epoll_wait loop; it knows the protocol (one
//                       byte in flight), so a short read tells it the pipe is drained
//   raw epoll, drain:   the same loop written as generic edge-triggered code must be: read
//                       until EAGAIN before waiting again
//   Asio:               two co_spawn'ed awaitables on an io_context(1), each looping
//                       co_await in.async_read_some(...) and co_await asio::async_write(out, ...)
//                       on asio::posix::stream_descriptor, with use_awaitable
// Target: aio <= 1.15x hand-written (raw epoll). Syscalls per round trip (strace -c): raw
// epoll 6 (2 epoll_wait, 2 read, 2 write), aio 6, aio wait_readable 8 and raw epoll drain 8:
// wait_readable cannot see the caller's own read, so after handing readiness out once it asks
// poll(2) whether the fd is still ready (the price of level-triggered semantics on an
// edge-triggered registration; a generic edge-triggered loop pays the same as an EAGAIN read).
#include "bench_config.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#if AIO_BENCH_WITH_ASIO
#include <boost/asio/buffer.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/write.hpp>
#endif

namespace {

constexpr int kRounds = 200'000;
constexpr double kOps = kRounds;

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "bench_pingpong: %s: %s\n", what, std::strerror(errno));
    std::exit(2);
}

// The two pipes. Pipe 1 carries A -> B, pipe 2 carries B -> A.
struct Pipes {
    int p1[2] = {-1, -1};
    int p2[2] = {-1, -1};
    Pipes() {
        if (::pipe2(p1, O_NONBLOCK | O_CLOEXEC) != 0 || ::pipe2(p2, O_NONBLOCK | O_CLOEXEC) != 0)
            die("pipe2");
    }
    Pipes(const Pipes&) = delete;
    Pipes& operator=(const Pipes&) = delete;
    ~Pipes() {
        for (int fd : {p1[0], p1[1], p2[0], p2[1]})
            if (fd >= 0)
                ::close(fd);
    }
    int a_in() const { return p2[0]; }
    int a_out() const { return p1[1]; }
    int b_in() const { return p1[0]; }
    int b_out() const { return p2[1]; }
    // Gives up ownership of all four fds (someone else closes them).
    void release() { p1[0] = p1[1] = p2[0] = p2[1] = -1; }
};

// Reads what is in the pipe (one byte at most is ever in flight). Returns false on EAGAIN.
// The buffer is larger than one byte, so a short read also shows that the pipe is drained
// (what edge-triggered epoll needs) without a second read().
inline bool read_byte(int fd) {
    char buf[16];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0)
            return true;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return false;
        if (n == 0)
            errno = 0;
        die("read (EOF or error)");
    }
}

// Writes one byte; the pipe is never full (one byte in flight), so this never blocks.
inline void write_byte(int fd) {
    char c = 'x';
    for (;;) {
        ssize_t n = ::write(fd, &c, 1);
        if (n == 1)
            return;
        if (n < 0 && errno == EINTR)
            continue;
        die("write");
    }
}

// ------------------------------------------------------------------------ aio ----

#if AIO_BENCH_WITH_AIO
// One side of the ping-pong: `rounds` times, wait for a byte on `in` and read it, then write
// one byte to `out`. The side that `starts` writes the first byte before its loop and does
// not answer its last read.
using AioSide = aio::Task<> (*)(int in, int out, int rounds, bool starts);

// Row "aio": readiness (wait_readable) + plain ::read / ::write.
aio::Task<> aio_side_wait_readable(int in, int out, int rounds, bool starts) {
    if (starts)
        write_byte(out);
    for (int i = 0; i < rounds; ++i) {
        do {
            co_await aio::wait_readable(in);
        } while (!read_byte(in));
        if (!starts || i + 1 < rounds)
            write_byte(out);
    }
}

// Row "aio read_some": the I/O driver's operations (try the syscall, wait only on EAGAIN).
aio::Task<> aio_side_read_some(int in, int out, int rounds, bool starts) {
    std::byte buf[16];
    const std::byte one[1] = {std::byte{'x'}};
    if (starts)
        co_await aio::write_some(out, one);
    for (int i = 0; i < rounds; ++i) {
        const std::size_t n = co_await aio::read_some(in, buf);
        if (n == 0)
            die("read_some (EOF)");
        if (!starts || i + 1 < rounds)
            co_await aio::write_some(out, one);
    }
}

template <AioSide Side>
aio::Task<double> aio_main(const Pipes& p) {
    auto t0 = bench::wall_ns();
    auto a = aio::create_task(Side(p.a_in(), p.a_out(), kRounds, true));
    auto b = aio::create_task(Side(p.b_in(), p.b_out(), kRounds, false));
    co_await a;
    co_await b;
    auto t1 = bench::wall_ns();
    co_return double(t1 - t0) / kOps;
}

template <AioSide Side>
double run_aio() {
    Pipes p;
    return aio::run(aio_main<Side>(p));
}

struct AioVariant {
    const char* name; // row name; the first one is "aio" (the one the target checks)
    double (*run)();
};
constexpr AioVariant kAioVariants[] = {
    {bench::kAio, &run_aio<aio_side_read_some>},
    {"aio wait_readable", &run_aio<aio_side_wait_readable>},
};
#endif

// ------------------------------------------------------- hand-written: raw epoll ----

// Reads until EAGAIN, as edge-triggered code that does not know the protocol must.
inline bool drain(int fd) {
    bool got = false;
    while (read_byte(fd))
        got = true;
    return got;
}

// The floor: the same exchange as one plain loop on raw epoll. Each read end is registered
// once, edge-triggered; the event's tag says whose turn it is.
template <bool (*Read)(int)>
double run_raw_epoll() {
    Pipes p;
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    enum : std::uint32_t { kB = 0, kA = 1 }; // B reads pipe 1, A reads pipe 2
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u32 = kB;
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, p.b_in(), &ev) != 0)
        die("epoll_ctl");
    ev.data.u32 = kA;
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, p.a_in(), &ev) != 0)
        die("epoll_ctl");

    auto t0 = bench::wall_ns();
    write_byte(p.a_out());
    int done = 0;
    epoll_event evs[2];
    while (done < kRounds) {
        int n = ::epoll_wait(ep, evs, 2, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; ++i) {
            if (evs[i].data.u32 == kB) {
                if (Read(p.b_in()))
                    write_byte(p.b_out());
            } else if (Read(p.a_in())) {
                if (++done < kRounds)
                    write_byte(p.a_out());
            }
        }
    }
    auto t1 = bench::wall_ns();
    ::close(ep);
    return double(t1 - t0) / kOps;
}

// ----------------------------------------------------------------------- Asio ----

#if AIO_BENCH_WITH_ASIO
asio::awaitable<void> asio_side(asio::posix::stream_descriptor& in,
                                asio::posix::stream_descriptor& out, int rounds, bool starts) {
    char buf[16];
    char c = 'x';
    if (starts)
        co_await asio::async_write(out, asio::buffer(&c, 1), asio::use_awaitable);
    for (int i = 0; i < rounds; ++i) {
        std::size_t n = co_await in.async_read_some(asio::buffer(buf), asio::use_awaitable);
        bench::do_not_optimize(n);
        if (!starts || i + 1 < rounds)
            co_await asio::async_write(out, asio::buffer(&c, 1), asio::use_awaitable);
    }
}

double run_asio() {
    Pipes p;
    asio::io_context ctx(1); // concurrency hint: one thread
    // The descriptors own (and close) the fds from here on.
    asio::posix::stream_descriptor a_in(ctx, p.a_in()), a_out(ctx, p.a_out());
    asio::posix::stream_descriptor b_in(ctx, p.b_in()), b_out(ctx, p.b_out());
    p.release();
    auto t0 = bench::wall_ns();
    asio::co_spawn(ctx, asio_side(a_in, a_out, kRounds, true), asio::detached);
    asio::co_spawn(ctx, asio_side(b_in, b_out, kRounds, false), asio::detached);
    ctx.run();
    auto t1 = bench::wall_ns();
    return double(t1 - t0) / kOps;
}
#endif

} // namespace

int main(int argc, char** argv) {
    auto opt = bench::parse_args(argc, argv);
    bench::Runner r("pingpong", "pipe ping-pong: 200,000 round trips of one byte over two pipes",
                    "wall ns per round trip");
#if AIO_BENCH_WITH_AIO
    for (const auto& v : kAioVariants)
        r.add(v.name, v.run);
#else
    r.add_missing(bench::kAio, "built without aio");
#endif
    r.add(bench::kHand, run_raw_epoll<read_byte>);
    r.add("raw epoll, drain", run_raw_epoll<drain>);
#if AIO_BENCH_WITH_ASIO
    r.add(bench::kAsio, run_asio);
#else
    r.add_missing(bench::kAsio, AIO_BENCH_ASIO_MISSING);
#endif
    r.run(opt);
    auto a = r.med(bench::kAio), h = r.med(bench::kHand);
    return r.report(
        opt, {bench::target_ratio_at_most("aio <= 1.15x hand-written (raw epoll)", a, h, 1.15)},
        "<= 1.15x hand-written (raw epoll)");
}
