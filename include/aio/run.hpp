// aio::run, aio::create_task, the thread's current loop, current_task / all_tasks.
#pragma once

#include <csignal>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#elif defined(__APPLE__)
#include <pthread.h>
#elif defined(__FreeBSD__) || defined(__OpenBSD__)
#include <pthread_np.h>
#endif

#include <aio/event_loop.hpp>
#include <aio/task.hpp>

namespace aio {

/// Options for aio::run(); the same fields as LoopOptions.
struct RunOptions {
    bool debug = false;
    bool virtual_time = false;
};

/// The loop running on the calling thread. Throws aio::RuntimeError ("no running event loop")
/// outside a running loop.
inline EventLoop& get_running_loop() {
    if (EventLoop* loop = detail::tls_running_loop) return *loop;
    throw RuntimeError("no running event loop: call this from a task, or start one with aio::run()");
}

/// Sets the calling thread's current loop (nullptr for none), as asyncio.set_event_loop.
inline void set_event_loop(EventLoop* loop) noexcept { detail::tls_current_loop = loop; }

/// The calling thread's current loop: the running one, else the one set; nullptr when none.
inline EventLoop* get_event_loop() noexcept {
    return detail::tls_running_loop ? detail::tls_running_loop : detail::tls_current_loop;
}

/// Schedules `task` on the running loop (see EventLoop::create_task): it starts on a later
/// iteration, never inside this call, and the loop keeps it alive until it finishes.
/// Throws aio::RuntimeError when no loop is running.
template <class T>
ScheduledTask<T> create_task(Task<T> task, std::string name = {}) {
    return get_running_loop().create_task(std::move(task), std::move(name));
}

/// The task running on this thread's loop, or an empty TaskRef in a callback. Throws
/// aio::RuntimeError ("no running event loop") when no loop is running (asyncio).
inline TaskRef current_task() {
    detail::LoopCore& loop = detail::LoopAccess::core(get_running_loop());
    return loop.current_task() ? detail::TaskAccess::ref(loop.current_task()) : TaskRef();
}

/// The pending tasks of `loop`, by default the running loop. Throws aio::RuntimeError ("no
/// running event loop") when no loop is given and none is running (asyncio).
inline std::vector<TaskRef> all_tasks(EventLoop* loop = nullptr) {
    std::vector<TaskRef> tasks;
    if (!loop) loop = &get_running_loop();
    detail::LoopAccess::core(*loop).tasks().for_each_pending([&](detail::PromiseBase& t) { tasks.push_back(detail::TaskAccess::ref(&t)); });
    return tasks;
}

namespace detail {

inline bool on_main_thread() noexcept {
#if defined(__linux__)
    return ::getpid() == static_cast<pid_t>(::syscall(SYS_gettid));
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__)
    return pthread_main_np() != 0;
#else
    return false;
#endif
}

/// While aio::run runs on the main thread with SIGINT at its default disposition, SIGINT
/// cancels the main task (asyncio >= 3.11); a second SIGINT kills the process at once (from the
/// OS handler, so even a loop stuck in a blocking call). After the run, an interrupted program
/// re-raises SIGINT with the default disposition, so it exits the way a Ctrl-C'ed program
/// should (status 130 in a shell). A client of the loop's signal driver like any other.
class SigintGuard {
public:
    SigintGuard(EventLoop& loop, PromiseBase& main) : loop_(loop) {
        struct sigaction current {};
        if (!on_main_thread() || ::sigaction(SIGINT, nullptr, &current) != 0) return;
        if ((current.sa_flags & SA_SIGINFO) || current.sa_handler != SIG_DFL) return;
        try {
            watch_id_ = LoopAccess::signals(loop).watch(
                SIGINT, make_callback([this, main = TaskAccess::ref(&main)]() mutable { on_sigint(main); }));
        } catch (const std::exception&) {
            return; // no signal slot or pipe left: run without Ctrl-C handling rather than fail
        }
        SignalTable::instance().set_escalation(SIGINT, true);
        installed_ = true;
    }
    SigintGuard(const SigintGuard&) = delete;
    SigintGuard& operator=(const SigintGuard&) = delete;
    ~SigintGuard() { restore(); }

    void restore() noexcept {
        if (!std::exchange(installed_, false)) return;
        SignalTable::instance().set_escalation(SIGINT, false);
        LoopAccess::signals(loop_).unwatch(watch_id_); // restores the default disposition
    }

    /// Ends the process by SIGINT if one arrived during the run.
    void reraise_if_interrupted() noexcept {
        if (!interrupted_) return;
        restore();
        std::fflush(nullptr); // the signal ends the process: keep what it printed (as CPython)
        std::signal(SIGINT, SIG_DFL);
        ::raise(SIGINT);
    }

private:
    void on_sigint(TaskRef& main) {
        if (LoopAccess::has_signal_handler(loop_, SIGINT))
            return; // the program handles SIGINT itself (add_signal_handler)
        interrupted_ = true;
        if (!main.done()) main.cancel("interrupted by SIGINT");
    }

    EventLoop& loop_;
    std::uint64_t watch_id_ = 0;
    bool installed_ = false;
    bool interrupted_ = false;
};

/// Cancels every pending task and runs the loop until they have finished, reporting any that
/// failed with something other than cancellation. Tasks started meanwhile are cancelled too.
inline void cancel_all_tasks(EventLoop& loop) {
    TaskRegistry& tasks = LoopAccess::core(loop).tasks();
    while (tasks.has_pending()) {
        tasks.for_each_pending([](PromiseBase& t) { t.cancel({}); });
        LoopAccess::run_while_tasks_pending(loop);
    }
}

inline bool debug_from_environment() noexcept {
    const char* value = std::getenv("AIO_DEBUG");
    return value && *value && std::strcmp(value, "0") != 0;
}

} // namespace detail

/// Runs `main` on a new event loop and returns its result or rethrows its exception
/// (asyncio.run). Afterwards it cancels every task still pending and waits for them, shuts
/// the default executor down, closes the loop and restores the thread's previous current loop.
/// SIGINT cancels `main` (then ends the process by SIGINT once cleanup is done).
/// Throws aio::RuntimeError when called while a loop is running on this thread.
template <class T>
T run(Task<T> main, RunOptions options = {}) {
    if (detail::tls_running_loop)
        throw RuntimeError("aio::run() cannot be called from a running event loop; inside a task, "
                           "co_await the coroutine (or aio::create_task it) instead");
    detail::frame_of(detail::TaskAccess::frame(main), "aio::run()");
    // Whatever happens, the thread's current loop is the one it had before.
    struct RestoreCurrentLoop {
        EventLoop* previous = detail::tls_current_loop;
        ~RestoreCurrentLoop() { detail::tls_current_loop = previous; }
    } restore_current_loop;
    EventLoop loop(LoopOptions{options.debug || detail::debug_from_environment(), options.virtual_time});
    detail::tls_current_loop = &loop;
    loop.create_task(main);
    detail::SigintGuard sigint(loop, *detail::TaskAccess::frame(main));

    auto finish = [&]() noexcept {
        try {
            detail::cancel_all_tasks(loop);
        } catch (...) {
            loop.call_exception_handler({"error while cancelling tasks in aio::run()", std::current_exception(), {}});
        }
        loop.shutdown_default_executor();
        loop.close();
        detail::tls_current_loop = restore_current_loop.previous;
        sigint.reraise_if_interrupted();
    };
    try {
        if constexpr (std::is_void_v<T>) {
            loop.run_until_complete(std::move(main));
            finish();
        } else {
            T result = loop.run_until_complete(std::move(main));
            finish();
            return static_cast<T&&>(result);
        }
    } catch (...) {
        finish();
        throw;
    }
}

} // namespace aio
