// aio::detail::ChildProcess — one child a loop started: how its exit is noticed, who reaps it,
// and who waits for it.
//
// Noticing the exit: a pidfd (pidfd_open, Linux 5.3+; what CPython 3.12+ and Tokio use) watched
// by the loop's I/O driver. Where there is none (macOS/BSD, an older kernel, or when SIGCHLD is
// ignored — see below), the loop watches SIGCHLD through its signal driver and asks
// waitpid(pid, WNOHANG) about each of its own children when one arrives. Neither ever calls
// waitpid(-1): another library's children are never reaped here (asyncio's old
// SafeChildWatcher trap), and no SIGCHLD handler is needed for the pidfd path.
//
// A process that ignores SIGCHLD (SIG_IGN or SA_NOCLDWAIT) has its children reaped by the
// kernel, and their exit status is lost (asyncio's wait() then hangs, bpo-32115). Then the
// child is watched through SIGCHLD, installed before it starts: while aio watches it, SIGCHLD
// is caught, so the status is kept; the old disposition comes back when no child is watched.
//
// Reaping: the child is reaped (waitpid) as soon as it exits, whether or not anyone waits, so
// a cancelled wait() leaves no zombie. A Process dropped while its child runs kills it (as
// asyncio's transport does) and the loop still reaps it; a loop that closes reaps what it
// killed, and a child whose Process outlives the loop is killed and reaped when it goes.
#pragma once

#include <aio/awaiter.hpp>
#include <aio/detail/callback.hpp>
#include <aio/detail/current_loop.hpp>
#include <aio/detail/intrusive_list.hpp>
#include <aio/detail/io_driver.hpp>
#include <aio/detail/loop_core.hpp>
#include <aio/detail/signal_driver.hpp>
#include <aio/errors.hpp>
#include <aio/event_loop.hpp>

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <string>
#include <system_error>
#include <utility>

// pidfds are Linux's; a kqueue build (macOS/BSD, or the kqueue check compiled on Linux)
// takes the SIGCHLD path.
#if defined(__linux__) && defined(SYS_pidfd_open) && defined(SYS_pidfd_send_signal) &&             \
    !AIO_POLLER_KQUEUE
#define AIO_HAVE_PIDFD 1
#else
#define AIO_HAVE_PIDFD 0
#endif

namespace aio::detail {

/// How children are watched. `automatic`: a pidfd where the kernel has one, else SIGCHLD.
/// `sigchld`: always SIGCHLD + waitpid(pid) (what macOS/BSD and Linux < 5.3 use; tests force
/// it to run that path here).
enum class ChildWatchMode : std::uint8_t { automatic, sigchld };
inline std::atomic<ChildWatchMode> child_watch_mode{ChildWatchMode::automatic};

/// pidfd_open(pid): an fd (close-on-exec) that becomes readable when the child exits; -1 where
/// the kernel or platform has none.
inline int open_pidfd(pid_t pid) noexcept {
#if AIO_HAVE_PIDFD
    static std::atomic<bool> unsupported{false};
    if (unsupported.load(std::memory_order_relaxed))
        return -1;
    const long fd = ::syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0 && (errno == ENOSYS || errno == EPERM)) // no such syscall, or a seccomp filter
        unsupported.store(true, std::memory_order_relaxed);
    return static_cast<int>(fd);
#else
    (void)pid;
    return -1;
#endif
}

/// True when the kernel would reap children by itself (SIGCHLD ignored, or SA_NOCLDWAIT) once
/// aio stops catching SIGCHLD: the program's disposition, seen through aio's own handler, so
/// that a child started while an earlier one keeps the handler installed is watched the same
/// way (else the old disposition would come back under it).
inline bool sigchld_ignored() noexcept {
    const struct sigaction disposition = SignalTable::instance().program_disposition(SIGCHLD);
    if (disposition.sa_flags & SA_NOCLDWAIT)
        return true;
    return !(disposition.sa_flags & SA_SIGINFO) && disposition.sa_handler == SIG_IGN;
}

/// asyncio's returncode: the exit status, or minus the signal that killed the child.
inline int decode_wait_status(int status) noexcept {
    if (WIFSIGNALED(status))
        return -WTERMSIG(status);
    return WEXITSTATUS(status);
}

class ChildExitWait;

class ChildProcess final : private LoopResource, private TurnEndNode {
public:
    /// Before the child starts: when SIGCHLD must be caught for it, starts catching it now.
    explicit ChildProcess(LoopCore& loop) : loop_(&loop) {
        LoopResource::on_loop_close = &loop_closed;
        TurnEndNode::run = &pidfd_ready;
        if (child_watch_mode.load(std::memory_order_relaxed) == ChildWatchMode::sigchld ||
            sigchld_ignored())
            watch_sigchld();
    }
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    /// The child could not be started: undoes the constructor and deletes this.
    void abandon() noexcept {
        stop_watching();
        delete this;
    }

    /// The child runs as `pid`: watches for its exit. The handle (Process) holds one reference,
    /// the watch another until the child is reaped.
    void started(pid_t pid) {
        pid_ = pid;
        try {
            if (!sigchld_watch_)
                watch_pidfd();
        } catch (...) {
            // Not watched, so it could never be reaped: it goes now, and the caller abandons
            // this (a registration failure is as rare as running out of memory).
            if (send_kill())
                reap_blocking();
            else
                report_unkillable();
            throw;
        }
        refs_ = 2;
        loop_->add_resource(*this);
        is_resource_ = true;
        check_exit(); // last: it may reap the child and drop the watch's reference
    }

    pid_t pid() const noexcept { return pid_; }
    bool exited() const noexcept { return exited_; }
    int returncode() const noexcept { return returncode_; }
    bool status_lost() const noexcept { return status_lost_; }
    /// Whether a loop still watches for the exit (false once that loop has closed).
    bool watched() const noexcept { return watching(); }
    /// Whether `loop` is the loop that started the child.
    bool started_by(const LoopCore* loop) const noexcept { return loop == loop_; }

    /// Sends `signo` unless the child was already reaped (then nothing: its pid may belong to
    /// another process by now). With a pidfd the signal cannot reach a recycled pid at all.
    void send_signal(int signo) {
        if (exited_)
            return;
        int rc;
#if AIO_HAVE_PIDFD
        if (pidfd_ >= 0)
            rc = static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd_, signo, nullptr, 0));
        else
#endif
            rc = ::kill(pid_, signo);
        if (rc != 0 && errno != ESRCH) // ESRCH: it exited and is about to be reaped
            throw std::system_error(errno, std::system_category(),
                                    "send_signal(" + std::to_string(signo) + ") to pid " +
                                        std::to_string(pid_));
    }

    /// The Process handle went away. A child still running is killed (asyncio's transport
    /// does the same); the loop reaps it, or this does at once when no loop watches it any
    /// more.
    void handle_dropped() noexcept {
        handle_alive_ = false;
        if (!exited_) {
            unkillable_ = !send_kill();
            if (unkillable_)
                report_unkillable();
            else if (!watching())
                reap_blocking();
        }
        release();
    }

    void add_ref() noexcept {
        ++refs_;
    }
    void release() noexcept {
        if (--refs_ == 0)
            delete this;
    }

    void link_waiter(ChildExitWait& wait) noexcept;
    void unlink_waiter(ChildExitWait& wait) noexcept;

private:
    ~ChildProcess() = default;

    bool watching() const noexcept {
        return pidfd_ >= 0 || sigchld_watch_ != 0;
    }

    void watch_pidfd() {
        pidfd_ = open_pidfd(pid_);
        if (pidfd_ < 0) {
            watch_sigchld(); // the exit may already have happened: started() checks
            return;
        }
        loop_->io().forget_stale(pidfd_);
        try {
            loop_->io().add_internal_reader(pidfd_, &on_pidfd_readable, this);
        } catch (...) {
            ::close(std::exchange(pidfd_, -1));
            watch_sigchld();
        }
    }

    void watch_sigchld() {
        sigchld_watch_ = LoopAccess::signals(loop_->loop()).watch(SIGCHLD, make_callback([this] {
                                                                      check_exit();
                                                                  }));
    }

    static void on_pidfd_readable(void* self) {
        // Called from the driver's dispatch: the pidfd is closed at the end of the turn, not
        // while the driver still walks its registration.
        auto& child = *static_cast<ChildProcess*>(self);
        child.loop_->at_turn_end(child);
    }
    static void pidfd_ready(TurnEndNode& node) {
        static_cast<ChildProcess&>(node).check_exit();
    }

    /// Reaps the child if it has exited; then wakes every waiter and drops the watch.
    void check_exit() {
        if (exited_ || !try_reap())
            return; // still running (a SIGCHLD of another child, or of a stop)
        stop_watching();
        wake_waiters();
        release(); // the watch's reference; may delete this
    }

    /// waitpid(WNOHANG): false while the child runs, else its exit is recorded.
    bool try_reap() noexcept {
        int status = 0;
        pid_t r;
        do {
            r = ::waitpid(pid_, &status, WNOHANG);
        } while (r < 0 && errno == EINTR);
        if (r == 0)
            return false;
        record_exit(r == pid_, status);
        return true;
    }

    void record_exit(bool reaped, int status) noexcept {
        exited_ = true;
        // Not ours to reap any more (ECHILD): someone called waitpid(-1) or made the kernel
        // reap it. asyncio reports 255 in that case; wait() here says what happened.
        status_lost_ = !reaped;
        returncode_ = reaped ? decode_wait_status(status) : 255;
    }

    void stop_watching() noexcept {
        if (pidfd_ >= 0) {
            loop_->cancel_turn_end(*this);
            loop_->io().close(std::exchange(pidfd_, -1));
        }
        if (sigchld_watch_)
            LoopAccess::signals(loop_->loop()).unwatch(std::exchange(sigchld_watch_, 0));
        if (std::exchange(is_resource_, false))
            loop_->remove_resource(*this);
    }

    void wake_waiters() noexcept;

    /// SIGKILL; false when the kernel refused (EPERM: a setuid child): then nothing may block
    /// waiting for it.
    bool send_kill() noexcept {
        try {
            send_signal(SIGKILL);
            return true;
        } catch (...) {
            return false;
        }
    }

    /// A child that could not be killed outlives its watch: it is left to run (a zombie once
    /// it exits, until this process ends), and the program is told.
    void report_unkillable() noexcept {
        try {
            const std::string message =
                "pid " + std::to_string(pid_) + " could not be killed (" +
                std::system_category().message(errno) +
                "): nothing waits for it once its loop closes; wait() for a child that may "
                "refuse SIGKILL";
            if (loop_)
                loop_->call_exception_handler({message, nullptr, {}});
            else
                LoopCore::default_exception_handler({message, nullptr, {}});
        } catch (...) {
        }
    }

    /// waitpid without WNOHANG: only for a child just sent SIGKILL, which dies at once.
    void reap_blocking() noexcept {
        int status = 0;
        pid_t r;
        do {
            r = ::waitpid(pid_, &status, 0);
        } while (r < 0 && errno == EINTR);
        record_exit(r == pid_, status);
    }

    /// The loop closes: the watch ends. A child that has exited is reaped now; one whose
    /// Process is gone was killed and is reaped now; one whose Process lives on keeps running
    /// until that Process goes (handle_dropped kills and reaps it).
    static void loop_closed(LoopResource& resource) noexcept {
        auto& child = static_cast<ChildProcess&>(resource);
        child.is_resource_ = false; // the loop unlinked it
        child.stop_watching();
        if (!child.try_reap() && !child.handle_alive_ && !child.unkillable_)
            child.reap_blocking(); // killed when its Process went
        child.loop_ = nullptr;
        child.release(); // the watch's reference (resources are unlinked by the loop)
    }

    LoopCore* loop_;
    pid_t pid_ = -1;
    int pidfd_ = -1;
    std::uint64_t sigchld_watch_ = 0;
    std::uint32_t refs_ = 0;
    int returncode_ = 0;
    bool exited_ = false;
    bool status_lost_ = false;
    bool handle_alive_ = true;
    bool unkillable_ = false;  // SIGKILL was refused when the Process went
    bool is_resource_ = false; // in the loop's resource list
    ChildExitWait* waiters_ = nullptr;
};

/// `co_await process.wait()`: the child's returncode once it has exited (at once if it has).
/// Holds a reference, so the Process may go while a task waits. Cancel-safe: a cancelled wait
/// unlinks itself; the child is still reaped when it exits.
class [[nodiscard]] ChildExitWait final : public CancellableAwaiter<ChildExitWait> {
public:
    explicit ChildExitWait(ChildProcess& child) noexcept : child_(&child) { child.add_ref(); }
    ChildExitWait(ChildExitWait&& other) noexcept
        : CancellableAwaiter<ChildExitWait>(), child_(other.child_) {
        child_->add_ref();
    }
    ~ChildExitWait() {
        disarm();
        child_->release();
    }

    bool ready() const noexcept { return child_->exited(); }
    void arm() {
        if (!child_->started_by(tls_running_core) && child_->watched())
            throw RuntimeError("wait(): pid " + std::to_string(child_->pid()) +
                               " was started by another event loop; wait for it there (its exit "
                               "is noticed and reported on that loop only)");
        if (!child_->watched())
            throw RuntimeError("wait(): pid " + std::to_string(child_->pid()) +
                               " was started by an event loop that is closed; nothing watches "
                               "it any more (its Process kills and reaps it when it goes)");
        child_->link_waiter(*this);
        linked_ = true;
    }
    void disarm() noexcept {
        if (std::exchange(linked_, false))
            child_->unlink_waiter(*this);
    }
    int result() const {
        if (child_->status_lost())
            throw RuntimeError(
                "wait(): the exit status of pid " + std::to_string(child_->pid()) +
                " was lost: something else in this program reaped it (a waitpid(-1) or "
                "SIGCHLD set to SIG_IGN while it ran); returncode() says 255, as asyncio");
        return child_->returncode();
    }

private:
    friend class ChildProcess;
    ChildProcess* child_;
    ChildExitWait* prev_ = nullptr;
    ChildExitWait* next_ = nullptr;
    bool linked_ = false;
};

inline void ChildProcess::link_waiter(ChildExitWait& wait) noexcept {
    link_front<&ChildExitWait::prev_, &ChildExitWait::next_>(waiters_, wait);
}
inline void ChildProcess::unlink_waiter(ChildExitWait& wait) noexcept {
    unlink<&ChildExitWait::prev_, &ChildExitWait::next_>(waiters_, wait);
}
inline void ChildProcess::wake_waiters() noexcept {
    while (ChildExitWait* wait = waiters_) {
        wait->disarm();
        wait->wake();
    }
}

} // namespace aio::detail
