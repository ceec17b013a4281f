// Compile-only check of aio's kqueue backend on Linux (CTest: "kqueue backend compiles (shim)").
//
// Built with -DAIO_POLLER_KQUEUE=1 and tests/kqueue_shim on the include path, whose
// <sys/event.h> only declares the kqueue API: this file is compiled (-fsyntax-only), never
// linked or run. It includes all of aio with the kqueue backend forced, and uses the poller,
// the I/O awaitables, fd callbacks, cross-thread posting, signals, subprocesses (their SIGCHLD
// path: no pidfd with kqueue) and aio::run, so that the code on the kqueue path
// (kqueue_poller.hpp, the driver's calls into it, the pipe wake-up of threadsafe_inbox.hpp,
// ...) is actually compiled and its templates instantiated.
#include <aio/aio.hpp>
#include <aio/io.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#if !AIO_POLLER_KQUEUE || AIO_POLLER_EPOLL
#error "kqueue_compile_check.cpp must be compiled with -DAIO_POLLER_KQUEUE=1"
#endif

static_assert(std::is_same_v<aio::detail::Poller, aio::detail::KqueuePoller>,
              "AIO_POLLER_KQUEUE must select the kqueue backend");

namespace kqueue_check {

// The backend interface the I/O driver relies on (detail/poller.hpp).
[[maybe_unused]] std::uint64_t use_poller(aio::detail::KqueuePoller& poller, int fd) {
    poller.add(fd, std::uint64_t{42});
    const int n = poller.wait(-1) + poller.wait(0) + poller.wait(1500);
    const aio::detail::PollEvent* events = poller.events();
    std::uint64_t sum = 0;
    for (int i = 0; i < n; ++i)
        sum += events[i].token + events[i].ready;
    poller.remove(fd);
    static_assert(noexcept(poller.remove(fd)));
    static_assert(noexcept(poller.events()));
    static_assert(std::is_same_v<decltype(poller.wait(0)), int>);
    return sum + poller.control_calls();
}

[[maybe_unused]] void construct_poller() {
    aio::detail::KqueuePoller poller;
    (void)use_poller(poller, 0);
}

aio::Task<std::size_t> echo_once(int in, int out) {
    co_await aio::wait_readable(in);
    std::array<std::byte, 256> buffer{};
    const std::size_t n = co_await aio::read_some(in, std::span<std::byte>(buffer));
    co_await aio::wait_writable(out);
    const std::size_t written =
        co_await aio::write_some(out, std::span<const std::byte>(buffer.data(), n));
    aio::close_fd(in);
    co_return written;
}

// Signals and subprocesses take the SIGCHLD path here (no pidfd with kqueue).
aio::Task<int> children() {
    aio::EventLoop& loop = aio::get_running_loop();
    loop.add_signal_handler(SIGTERM, [] {});
    (void)loop.remove_signal_handler(SIGTERM);
    aio::Process p = co_await aio::create_subprocess_exec(
        "cat", aio::ProcessOptions{.stdin_ = aio::PIPE, .stdout_ = aio::PIPE, .cwd = "/"});
    auto [out, err] = co_await p.communicate("x");
    aio::Process q = co_await aio::create_subprocess_shell("exit 1");
    q.terminate();
    const int sig = co_await aio::wait_signal(SIGINT, SIGTERM);
    co_return co_await p.wait() + co_await q.wait() + sig +
        static_cast<int>(out.size() + err.size());
}

aio::Task<int> main_task(int in, int out) {
    aio::EventLoop& loop = aio::get_running_loop();
    loop.add_reader(in, [] {});
    loop.add_writer(out, [] {});
    (void)loop.remove_reader(in);
    (void)loop.remove_writer(out);
    loop.call_soon_threadsafe([] {});
    const std::uint64_t calls = aio::detail::LoopAccess::io(loop).control_calls();
    auto task = loop.create_task(echo_once(in, out));
    const std::size_t n = co_await task;
    const int from_thread = co_await aio::to_thread([] { return 1; });
    const int from_children = co_await children();
    co_return static_cast<int>(n + calls) + from_thread + from_children;
}

// Never called: the check is compile-only.
[[maybe_unused]] int run_it(int in, int out) {
    return aio::run(main_task(in, out));
}

} // namespace kqueue_check
