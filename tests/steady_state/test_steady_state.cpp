// The I/O driver's steady state: a wait makes no epoll_ctl call and no heap allocation, counted
// over 1,000 round trips. A program of its own: it replaces the global operator new/delete
// (forwarding to malloc/free, which ASan intercepts as usual, and counting while
// g_count_allocations is set), which would turn ASan's new/delete checks off for every other
// test if it lived in aio_tests.
#include "catch.hpp"
#include "io_test_util.hpp"
#include "pipe.hpp"
#include "test_util.hpp"
#include <aio/aio.hpp>
#include <aio/io.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <new>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

using aio::detail::LoopAccess;
using aio_test::Pipe;

using aio_test::io::bytes_of;
using aio_test::io::run_bounded;

// ---------------------------------------------------------------- allocation counter

namespace {

std::atomic<bool> g_count_allocations{false};
std::atomic<std::uint64_t> g_allocations{0};

void* counted_malloc(std::size_t size) noexcept {
    if (g_count_allocations.load(std::memory_order_relaxed))
        g_allocations.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(size == 0 ? 1 : size);
}

void* counted_aligned(std::size_t size, std::align_val_t alignment) noexcept {
    if (g_count_allocations.load(std::memory_order_relaxed))
        g_allocations.fetch_add(1, std::memory_order_relaxed);
    std::size_t align = static_cast<std::size_t>(alignment);
    if (align < sizeof(void*))
        align = sizeof(void*);
    void* p = nullptr;
    return ::posix_memalign(&p, align, size == 0 ? 1 : size) == 0 ? p : nullptr;
}

void* counted_or_throw(void* p) {
    if (!p)
        throw std::bad_alloc();
    return p;
}

} // namespace

void* operator new(std::size_t size) {
    return counted_or_throw(counted_malloc(size));
}
void* operator new[](std::size_t size) {
    return counted_or_throw(counted_malloc(size));
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    return counted_malloc(size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
    return counted_malloc(size);
}
void* operator new(std::size_t size, std::align_val_t a) {
    return counted_or_throw(counted_aligned(size, a));
}
void* operator new[](std::size_t size, std::align_val_t a) {
    return counted_or_throw(counted_aligned(size, a));
}
void* operator new(std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
    return counted_aligned(size, a);
}
void* operator new[](std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
    return counted_aligned(size, a);
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete[](void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
    std::free(p);
}

// ---------------------------------------------------------------- 1. steady state: no epoll_ctl,
// no allocation

namespace {

constexpr int warmup_round_trips = 5;
constexpr int measured_round_trips = 1000;
constexpr int cooldown_round_trips = 3; // the ponger finishes after the window closes
constexpr int total_round_trips = warmup_round_trips + measured_round_trips + cooldown_round_trips;
constexpr std::size_t message_size = 1000;

/// What the measured window saw: epoll_ctl calls and heap allocations between start() and stop().
struct SteadyStateMeter {
    aio::detail::IoDriver& io;
    std::uint64_t control_calls_at_start = 0, control_calls = 0;
    std::uint64_t allocations_at_start = 0, allocations = 0;
    std::uint64_t waits = 0; // suspensions (wait_readable / read_some) inside the window
    bool measuring = false;
    bool measured = false;
    int errors = 0; // short or failed syscalls, wrong bytes (no Catch macro inside the window)

    void start() {
        control_calls_at_start = io.control_calls();
        allocations_at_start = g_allocations.load();
        measuring = true;
        g_count_allocations.store(true);
    }
    void stop() {
        g_count_allocations.store(false);
        measuring = false;
        measured = true;
        allocations = g_allocations.load() - allocations_at_start;
        control_calls = io.control_calls() - control_calls_at_start;
    }
};

} // namespace

TEST_CASE("io driver: the allocation counter of this file counts", "[io_driver][steady]") {
    // The zero the steady-state test expects must not be a counter that never counts.
    const std::uint64_t before = g_allocations.load();
    g_count_allocations.store(true);
    void* p = ::operator new(16); // an explicit call: never elided
    g_count_allocations.store(false);
    ::operator delete(p);
    REQUIRE(g_allocations.load() - before == 1);
}

namespace {

/// How the ping-pong moves its bytes.
enum class Api {
    wait_readable, // aio::wait_readable, then ::read; ::write (a pipe with one message in it has
                   // room)
    read_some,     // aio::read_some / aio::write_some
};

enum class Role { pinger, ponger };

/// One side of the ping-pong, for total_round_trips round trips of message_size bytes: the
/// pinger sends message i, reads the reply and checks it is message i, and opens and closes
/// the meter's window; the ponger reads each message and sends it back. Each wake inside the
/// window counts in meter.waits, each failure in meter.errors (no Catch macro inside the
/// window); `received` adds up the bytes read. Both Apis in one body, with no child coroutine:
/// under AddressSanitizer aio does not recycle coroutine frames, so a child's frame would be a
/// heap allocation per call.
template <Api api>
aio::Task<> ping_pong_side(Role role, int in, int out, SteadyStateMeter& meter,
                           std::uint64_t& received) {
    std::array<char, message_size> buf{};
    for (int i = 0; i < total_round_trips; ++i) {
        if (role == Role::pinger) {
            if (i == warmup_round_trips)
                meter.start();
            if (i == warmup_round_trips + measured_round_trips)
                meter.stop();
            buf[0] = static_cast<char>(i);
        }
        // The pinger sends, then reads the reply; the ponger reads, then sends back what it read.
        for (const bool sending : {role == Role::pinger, role == Role::ponger}) {
            if (sending) {
                bool sent_all = false;
                if constexpr (api == Api::wait_readable)
                    sent_all = ::write(out, buf.data(), message_size) ==
                               static_cast<ssize_t>(message_size);
                else
                    sent_all = co_await aio::write_some(out, bytes_of(buf)) == message_size;
                if (!sent_all)
                    ++meter.errors;
                continue;
            }
            // Reads exactly message_size bytes.
            std::size_t got = 0;
            [[maybe_unused]] int empty_wakes = 0;
            while (got < message_size) {
                std::size_t n = 0;
                if constexpr (api == Api::wait_readable) {
                    co_await aio::wait_readable(in);
                    if (meter.measuring)
                        ++meter.waits;
                    const ssize_t r = ::read(in, buf.data() + got, message_size - got);
                    // Woken with nothing to read: tolerated a few times; a wait that spins fails.
                    if (r < 0 && errno == EAGAIN && ++empty_wakes <= 100)
                        continue;
                    if (r > 0)
                        n = static_cast<std::size_t>(r);
                } else {
                    n = co_await aio::read_some(in, bytes_of(buf).subspan(got));
                    if (meter.measuring)
                        ++meter.waits;
                }
                if (n == 0) { // end of file or an error
                    ++meter.errors;
                    break;
                }
                got += n;
            }
            received += got;
        }
        if (role == Role::pinger && buf[0] != static_cast<char>(i))
            ++meter.errors;
    }
}

/// Runs the ping-pong with `api` over two pipes on a loop of its own, reports what the
/// measured window saw (WARN, under `label`) and checks it: no error, every byte through,
/// one wake per message on each side, no epoll_ctl call, no allocation, no fd left open.
template <Api api>
void check_ping_pong(const char* label) {
    const int fds_before = aio_test::open_fd_count();
    {
        Pipe ping, pong;
        aio::EventLoop loop;
        SteadyStateMeter meter{LoopAccess::io(loop)};
        std::uint64_t pinger_bytes = 0, ponger_bytes = 0;
        auto body = [&]() -> aio::Task<> {
            auto a = aio::create_task(
                ping_pong_side<api>(Role::pinger, pong.r, ping.w, meter, pinger_bytes));
            auto b = aio::create_task(
                ping_pong_side<api>(Role::ponger, ping.r, pong.w, meter, ponger_bytes));
            co_await a;
            co_await b;
        };
        run_bounded(loop, body());

        WARN(label << " ping-pong, " << measured_round_trips << " round trips of " << message_size
                   << " bytes after " << warmup_round_trips << " warm-up ones: " << meter.waits
                   << (api == Api::wait_readable ? " waits, " : " reads, ") << meter.control_calls
                   << " epoll_ctl calls, " << meter.allocations << " heap allocations");
        REQUIRE(meter.measured);
        CHECK(meter.errors == 0);
        CHECK(pinger_bytes == std::uint64_t{total_round_trips} * message_size);
        CHECK(ponger_bytes == std::uint64_t{total_round_trips} * message_size);
        CHECK(meter.waits ==
              2 * measured_round_trips); // each side woke once per message, with the data
        CHECK(meter.control_calls == 0);
        CHECK(meter.allocations == 0);
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

} // namespace

TEST_CASE("io driver: ping-pong with wait_readable + read/write makes no epoll_ctl call and no "
          "allocation",
          "[io_driver][steady]") {
    check_ping_pong<Api::wait_readable>("wait_readable + ::read/::write");
}

TEST_CASE(
    "io driver: ping-pong with read_some/write_some makes no epoll_ctl call and no allocation",
    "[io_driver][steady]") {
    check_ping_pong<Api::read_some>("read_some/write_some");
}

TEST_CASE("io driver: a fresh fd costs one epoll_ctl (the registration), close_fd one (the "
          "removal), waits none",
          "[io_driver][steady]") {
    const int fds_before = aio_test::open_fd_count();
    {
        Pipe p;
        aio::EventLoop loop;
        auto& io = LoopAccess::io(loop);
        std::vector<std::uint64_t> deltas; // control calls made by each step below
        std::vector<std::size_t> registered;
        auto body = [&]() -> aio::Task<> {
            const std::size_t base = io.registered_count();
            std::uint64_t c = io.control_calls();
            auto step = [&] {
                deltas.push_back(io.control_calls() - c);
                registered.push_back(io.registered_count() - base);
                c = io.control_calls();
            };
            co_await aio::wait_writable(p.w); // fresh fd: registered
            step();
            co_await aio::wait_writable(p.w); // registered already
            co_await aio::wait_writable(p.w);
            step();
            const std::string x = "x";
            co_await aio::write_some(p.w, bytes_of(x)); // the same registration serves operations
            step();
            loop.add_reader(p.r, [] {}); // another fresh fd: registered
            step();
            loop.remove_reader(p.r); // stays registered
            loop.add_reader(p.r, [] {});
            loop.remove_reader(p.r);
            co_await aio::wait_readable(p.r);
            step();
            aio::close_fd(p.w); // removed
            p.w = -1;
            step();
            aio::close_fd(p.r);
            p.r = -1;
            step();
        };
        run_bounded(loop, body());
        CHECK(deltas == std::vector<std::uint64_t>{1, 0, 0, 1, 0, 1, 1});
        CHECK(registered == std::vector<std::size_t>{1, 1, 1, 2, 2, 1, 0});
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

namespace {

/// One side of a stream ping-pong (a request / response server's loop): read_into the side's
/// buffer until a whole message is there, write it (the pinger: the next one) and drain.
aio::Task<> stream_side(Role role, aio::StreamReader reader, aio::StreamWriter writer,
                        SteadyStateMeter& meter, std::uint64_t& received) {
    std::string buffer;
    buffer.reserve(2 * message_size);
    const std::string message(message_size, 'm');
    for (int i = 0; i < total_round_trips; ++i) {
        if (role == Role::pinger) {
            if (i == warmup_round_trips)
                meter.start();
            if (i == warmup_round_trips + measured_round_trips)
                meter.stop();
            writer.write(std::string_view(message));
            co_await writer.drain();
        }
        while (buffer.size() < message_size) {
            const std::size_t n = co_await reader.read_into(buffer, 64 * 1024);
            if (n == 0) { // end of file
                ++meter.errors;
                co_return;
            }
        }
        received += buffer.size();
        if (buffer.size() != message_size)
            ++meter.errors;
        if (role == Role::ponger) {
            writer.write(std::string_view(buffer));
            co_await writer.drain();
        }
        buffer.clear(); // keeps its capacity
    }
}

} // namespace

TEST_CASE("streams: a ping-pong with read_into, write and drain makes no epoll_ctl call and no "
          "allocation",
          "[streams][steady]") {
    const int fds_before = aio_test::open_fd_count();
    {
        aio::EventLoop loop;
        SteadyStateMeter meter{LoopAccess::io(loop)};
        std::uint64_t pinger_bytes = 0, ponger_bytes = 0;
        auto body = [&]() -> aio::Task<> {
            int fds[2];
            if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
                throw std::system_error(errno, std::system_category(), "socketpair");
            auto [a_reader, a_writer] = co_await aio::open_connection(aio::Socket(fds[0]));
            auto [b_reader, b_writer] = co_await aio::open_connection(aio::Socket(fds[1]));
            auto a = aio::create_task(
                stream_side(Role::pinger, a_reader, a_writer, meter, pinger_bytes));
            auto b = aio::create_task(
                stream_side(Role::ponger, b_reader, b_writer, meter, ponger_bytes));
            co_await a;
            co_await b;
        };
        run_bounded(loop, body());

        WARN("read_into + write + drain ping-pong, "
             << measured_round_trips << " round trips of " << message_size
             << " bytes: " << meter.control_calls << " epoll_ctl calls, " << meter.allocations
             << " heap allocations");
        REQUIRE(meter.measured);
        CHECK(meter.errors == 0);
        CHECK(pinger_bytes == std::uint64_t{total_round_trips} * message_size);
        CHECK(ponger_bytes == std::uint64_t{total_round_trips} * message_size);
        CHECK(meter.control_calls == 0);
        CHECK(meter.allocations == 0);
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}
