// aio::detail — the one door into a loop from other threads: a mutex-guarded list of
// callbacks plus a wake-up fd the loop polls (an eventfd on Linux, a pipe elsewhere).
// Wake-ups are coalesced: only the post that finds the inbox empty writes to the fd.
// The inbox is shared (shared_ptr) with executor jobs, so a job finishing after its loop
// closed posts into a closed inbox, which drops the callback instead of touching freed memory.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

#include <aio/config.hpp>
#include <aio/detail/callback.hpp>
#include <aio/detail/pipe.hpp>
#if AIO_POLLER_EPOLL
#include <sys/eventfd.h>
#endif

namespace aio::detail {

class ThreadsafeInbox {
public:
    ThreadsafeInbox() {
#if AIO_POLLER_EPOLL
        read_fd_ = write_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (read_fd_ < 0) throw std::system_error(errno, std::system_category(), "eventfd");
#else
        int fds[2];
        open_nonblocking_pipe(fds);
        read_fd_ = fds[0];
        write_fd_ = fds[1];
#endif
    }
    ThreadsafeInbox(const ThreadsafeInbox&) = delete;
    ThreadsafeInbox& operator=(const ThreadsafeInbox&) = delete;
    ~ThreadsafeInbox() { // when the last InboxRef goes
        close();
        ::close(read_fd_);
        if (write_fd_ != read_fd_) ::close(write_fd_);
    }

    int wake_fd() const noexcept { return read_fd_; }

    /// Whether something was posted (or wake() called) since the last take(); lets a busy loop
    /// notice posts without polling the fd.
    bool signalled() const noexcept { return signalled_.load(std::memory_order_acquire); }

    /// Takes ownership of `node`. Returns false (and frees it) when the loop is closed.
    bool post(CallbackNode* node) {
        bool was_empty;
        {
            std::lock_guard lock(mutex_);
            if (closed_) {
                node->release();
                return false;
            }
            was_empty = head_ == nullptr;
            node->next = nullptr;
            (was_empty ? head_ : tail_->next) = node;
            tail_ = node;
        }
        if (was_empty) wake();
        return true;
    }

    /// Async-signal-safe: used by signal handlers too.
    void wake() noexcept {
        signalled_.store(true, std::memory_order_release);
        const std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(write_fd_, &one, sizeof one);
    }

    /// Loop thread: empties the wake-up fd, then takes every posted callback (in that order,
    /// so a post racing with us either lands in this batch or writes a fresh wake-up).
    /// Returns the posted callbacks in posting order, linked through CallbackNode::next.
    CallbackNode* take() {
        signalled_.store(false, std::memory_order_relaxed);
        std::uint64_t buf[16];
        while (::read(read_fd_, buf, sizeof buf) > 0) {
        }
        std::lock_guard lock(mutex_);
        tail_ = nullptr;
        return std::exchange(head_, nullptr);
    }

    void close() noexcept {
        CallbackNode* dropped;
        {
            std::lock_guard lock(mutex_);
            closed_ = true;
            dropped = std::exchange(head_, nullptr);
            tail_ = nullptr;
        }
        while (dropped) std::exchange(dropped, dropped->next)->release();
    }

    bool closed() {
        std::lock_guard lock(mutex_);
        return closed_;
    }

    // Shared by the loop and its executor calls (InboxRef); thread-safe.
    void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept {
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }

private:
    std::atomic<int> refs_{1};
    std::mutex mutex_;
    CallbackNode* head_ = nullptr; // posted callbacks, oldest first
    CallbackNode* tail_ = nullptr;
    bool closed_ = false;
    std::atomic<bool> signalled_{false};
    int read_fd_ = -1;
    int write_fd_ = -1;
};

/// Shares a ThreadsafeInbox between the loop and executor calls whose results may arrive
/// after the loop is gone (an intrusive count rather than shared_ptr: the loop's every
/// program compiles this, and shared_ptr's machinery is a good part of a small unit's -O0 time).
class InboxRef {
public:
    InboxRef() : inbox_(new ThreadsafeInbox()) {}
    InboxRef(const InboxRef& other) noexcept : inbox_(other.inbox_) { inbox_->add_ref(); }
    InboxRef& operator=(const InboxRef&) = delete;
    ~InboxRef() { inbox_->release(); }
    ThreadsafeInbox* operator->() const noexcept { return inbox_; }

private:
    ThreadsafeInbox* inbox_;
};

} // namespace aio::detail
