// aio::detail — the signal driver: OS signals delivered into a loop like any other readiness.
//
// One process-wide table (signals are process-wide) and one self-pipe per loop that watches
// signals (as libuv and Tokio do). The OS handler is async-signal-safe: for each loop watching
// the signal it sets the signal's bit in that loop's pending mask and writes one byte to the
// loop's pipe; nothing else. The loop's I/O driver sees the pipe readable, the signal driver
// drains it, takes the pending mask and queues every watcher of each signal that arrived as an
// ordinary callback. So handlers never run inside the OS handler, a storm of signals coalesces
// into one run per iteration (never fewer than one after the last signal), and several loops
// in several threads each get every signal they watch.
//
// The first watcher of a signal in the process installs the handler (sigaction, SA_RESTART)
// and remembers the previous disposition; the last one to leave restores it.
#pragma once

#include <aio/detail/callback.hpp>
#include <aio/detail/io_driver.hpp>
#include <aio/detail/loop_core.hpp>
#include <aio/detail/pipe.hpp>
#include <aio/errors.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <mutex>
#include <string>
#include <system_error>
#include <utility>

namespace aio::detail {

/// The process-wide part: which loop slots watch which signal, their pipes and pending masks.
class SignalTable {
public:
    static constexpr int max_signal = 64; // signal numbers 1..64 fit a 64-bit mask
    static constexpr int max_loops = 128; // loops watching signals at the same time

    static SignalTable& instance() {
        static SignalTable table;
        return table;
    }

    /// Claims a slot for a loop whose pipe's write end is `write_fd`. Throws aio::RuntimeError
    /// when all slots are taken.
    int claim_slot(int write_fd) {
        std::lock_guard lock(mutex_);
        for (int i = 0; i < max_loops; ++i) {
            if (slots_[i].write_fd.load(std::memory_order_relaxed) == -1) {
                slots_[i].pending.store(0, std::memory_order_relaxed);
                slots_[i].watched.store(0, std::memory_order_relaxed);
                slots_[i].write_fd.store(write_fd, std::memory_order_release);
                return i;
            }
        }
        throw RuntimeError("too many event loops watching signals at once (" +
                           std::to_string(max_loops) + ")");
    }

    /// Frees the slot; returns once no OS handler is still using its pipe.
    void release_slot(int slot) noexcept {
        std::lock_guard lock(mutex_);
        for (int signo = 1; signo <= max_signal; ++signo)
            if (slots_[slot].watched.load(std::memory_order_relaxed) & bit(signo))
                unwatch_locked(slot, signo);
        // seq_cst on both sides (here and in on_signal): a handler that has not yet counted
        // itself in must see -1, and one that has must be waited for. Release/acquire alone
        // would let the store and the load pass each other.
        slots_[slot].write_fd.store(-1, std::memory_order_seq_cst);
        while (slots_[slot].in_handler.load(std::memory_order_seq_cst) != 0) {
        }
    }

    /// Starts delivering `signo` to `slot`, installing the OS handler if this is its first
    /// watcher. Throws std::system_error (EINVAL) for a signal that cannot be caught.
    void watch(int slot, int signo) {
        if (signo < 1 || signo > max_signal || signo == SIGKILL || signo == SIGSTOP)
            throw std::system_error(EINVAL, std::system_category(),
                                    "signal " + std::to_string(signo) + " cannot be handled");
        std::lock_guard lock(mutex_);
        if (slots_[slot].watched.load(std::memory_order_relaxed) & bit(signo))
            return;
        if (watchers_[signo]++ == 0) {
            struct sigaction ours {};
            ours.sa_handler = &on_signal;
            sigemptyset(&ours.sa_mask);
            ours.sa_flags = SA_RESTART;
            if (::sigaction(signo, &ours, &previous_[signo]) != 0) {
                --watchers_[signo];
                throw std::system_error(errno, std::system_category(),
                                        "sigaction(" + std::to_string(signo) + ")");
            }
        }
        slots_[slot].watched.fetch_or(bit(signo), std::memory_order_release);
    }

    void unwatch(int slot, int signo) noexcept {
        if (signo < 1 || signo > max_signal)
            return;
        std::lock_guard lock(mutex_);
        if (slots_[slot].watched.load(std::memory_order_relaxed) & bit(signo))
            unwatch_locked(slot, signo);
    }

    /// The program's own disposition of `signo`: while aio's handler is installed, the one it
    /// replaced (and restores when the last watcher goes), else the current one.
    struct sigaction program_disposition(int signo) noexcept {
        std::lock_guard lock(mutex_);
        if (watchers_[signo] > 0)
            return previous_[signo];
        struct sigaction now {};
        ::sigaction(signo, nullptr, &now);
        return now;
    }

    /// The signals that arrived for `slot` since the last call.
    std::uint64_t take_pending(int slot) noexcept {
        return slots_[slot].pending.exchange(0, std::memory_order_acq_rel);
    }

    /// After the first delivery of `signo`, a second one restores the previous disposition
    /// and re-raises it from the OS handler (aio::run's "second Ctrl-C kills").
    void set_escalation(int signo, bool on) noexcept {
        if (signo >= 1 && signo <= max_signal) {
            arrivals_[signo].store(0, std::memory_order_relaxed);
            escalate_[signo].store(on, std::memory_order_release);
        }
    }

    static constexpr std::uint64_t bit(int signo) noexcept {
        return std::uint64_t{1} << (signo - 1);
    }

private:
    struct Slot {
        std::atomic<int> write_fd{-1};
        std::atomic<std::uint64_t> watched{0};
        std::atomic<std::uint64_t> pending{0};
        std::atomic<int> in_handler{0};
    };

    void unwatch_locked(int slot, int signo) noexcept {
        slots_[slot].watched.fetch_and(~bit(signo), std::memory_order_release);
        if (--watchers_[signo] == 0) {
            escalate_[signo].store(false, std::memory_order_relaxed);
            ::sigaction(signo, &previous_[signo], nullptr);
        }
    }

    // Async-signal-safe: atomics (lock-free) and write(2) only.
    static void on_signal(int signo) {
        const int saved_errno = errno;
        SignalTable& table = instance();
        if (table.escalate_[signo].load(std::memory_order_acquire) &&
            table.arrivals_[signo].fetch_add(1, std::memory_order_acq_rel) > 0) {
            ::signal(signo, SIG_DFL);
            ::raise(signo);
            errno = saved_errno;
            return;
        }
        for (Slot& slot : table.slots_) {
            if (!(slot.watched.load(std::memory_order_acquire) & bit(signo)))
                continue;
            slot.in_handler.fetch_add(1, std::memory_order_seq_cst);
            const int fd = slot.write_fd.load(std::memory_order_seq_cst);
            if (fd >= 0) {
                slot.pending.fetch_or(bit(signo), std::memory_order_acq_rel);
                const char byte = 1;
                [[maybe_unused]] auto n =
                    ::write(fd, &byte, 1); // EAGAIN: a wake-up is pending already
            }
            slot.in_handler.fetch_sub(1, std::memory_order_acq_rel);
        }
        errno = saved_errno;
    }

    static_assert(std::atomic<std::uint64_t>::is_always_lock_free &&
                      std::atomic<int>::is_always_lock_free,
                  "the signal handler needs lock-free atomics");

    std::mutex mutex_;
    Slot slots_[max_loops];
    int watchers_[max_signal + 1] = {};
    struct sigaction previous_[max_signal + 1]{};
    std::atomic<bool> escalate_[max_signal + 1] = {};
    std::atomic<int> arrivals_[max_signal + 1] = {};
};

/// One loop's signal driver: its self-pipe, registered with the I/O driver, and the callbacks
/// watching each signal (run as ordinary callbacks, in the order they were added).
class SignalDriver {
public:
    explicit SignalDriver(LoopCore& loop) noexcept : loop_(loop) {}
    SignalDriver(const SignalDriver&) = delete;
    SignalDriver& operator=(const SignalDriver&) = delete;
    ~SignalDriver() { shutdown(); }

    /// Runs `node` (adopting its reference) on the loop each time `signo` arrives, until
    /// unwatch() with the returned id. Throws std::system_error for a signal that cannot be
    /// caught (SIGKILL, SIGSTOP, out of range).
    std::uint64_t watch(int signo, CallbackNode* node) {
        CallbackRef owned(node);
        start();
        SignalTable::instance().watch(slot_, signo);
        // Appended, so watchers of one signal run in the order they were added.
        Watcher** tail = &watchers_;
        while (*tail)
            tail = &(*tail)->next;
        *tail = new Watcher{++last_id_, signo, owned.release_ownership(), nullptr};
        return last_id_;
    }

    /// Stops a watch; the OS disposition is restored when no loop watches the signal any
    /// more. False if `id` is unknown.
    bool unwatch(std::uint64_t id) noexcept {
        for (Watcher** link = &watchers_; *link; link = &(*link)->next) {
            if ((*link)->id != id)
                continue;
            Watcher* gone = std::exchange(*link, (*link)->next);
            gone->node->cancelled = true;
            gone->node->release();
            if (!watching(gone->signo))
                SignalTable::instance().unwatch(slot_, gone->signo);
            delete gone;
            return true;
        }
        return false;
    }

    bool watching(int signo) const noexcept {
        for (const Watcher* w = watchers_; w; w = w->next)
            if (w->signo == signo)
                return true;
        return false;
    }

    /// Loop close: stops every watch and closes the pipe.
    void shutdown() noexcept {
        while (watchers_)
            unwatch(watchers_->id);
        if (slot_ >= 0)
            SignalTable::instance().release_slot(std::exchange(slot_, -1));
        if (read_fd_ >= 0) {
            loop_.io().close(std::exchange(read_fd_, -1));
            ::close(std::exchange(write_fd_, -1));
        }
    }

private:
    struct Watcher {
        std::uint64_t id;
        int signo;
        CallbackNode* node;
        Watcher* next;
    };

    // The pipe and the slot are made on first use: a loop that never watches a signal costs
    // no fds.
    void start() {
        if (slot_ >= 0)
            return;
        int fds[2];
        open_nonblocking_pipe(fds); // the handler's write never blocks; no child inherits it
        read_fd_ = fds[0];
        write_fd_ = fds[1];
        try {
            loop_.io().add_internal_reader(read_fd_, &on_pipe_readable, this);
            slot_ = SignalTable::instance().claim_slot(write_fd_);
        } catch (...) {
            loop_.io().close(std::exchange(read_fd_, -1));
            ::close(std::exchange(write_fd_, -1));
            throw;
        }
    }

    static void on_pipe_readable(void* self) { static_cast<SignalDriver*>(self)->deliver(); }

    void deliver() {
        char buf[256];
        while (::read(read_fd_, buf, sizeof buf) > 0) {
        }
        const std::uint64_t arrived = SignalTable::instance().take_pending(slot_);
        if (!arrived)
            return;
        for (const Watcher* w = watchers_; w; w = w->next) {
            if (!(arrived & SignalTable::bit(w->signo)))
                continue;
            w->node->add_ref();
            loop_.push_ready({ReadyItem::callback, w->node});
        }
    }

    LoopCore& loop_;
    int slot_ = -1;
    int read_fd_ = -1;
    int write_fd_ = -1;
    std::uint64_t last_id_ = 0;
    Watcher* watchers_ = nullptr; // in the order they were added
};

} // namespace aio::detail
