// aio::wait_readable / aio::wait_writable — suspend the calling task until an fd is ready.
#pragma once

#include <coroutine>
#include <string>

#include <aio/detail/promise_base.hpp>
#include <aio/event_loop.hpp>
#include <aio/task.hpp>

namespace aio {

/// The awaitable wait_readable / wait_writable return. Cancellation removes the fd from the
/// poller before CancelledError is delivered.
class [[nodiscard]] FdWaitAwaitable final {
public:
    FdWaitAwaitable(int fd, bool writing) noexcept : fd_(fd), writing_(writing) {}
    // Movable until awaited (e.g. into aio::wait_for), never after.
    FdWaitAwaitable(FdWaitAwaitable&& other) noexcept : fd_(other.fd_), writing_(other.writing_) {}
    FdWaitAwaitable(const FdWaitAwaitable&) = delete;
    FdWaitAwaitable& operator=(const FdWaitAwaitable&) = delete;
    ~FdWaitAwaitable() {
        if (armed_) detach();
    }

    bool await_ready() const noexcept { return false; }

    /// Throws std::system_error when the fd cannot be watched (e.g. closed).
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        task_ = &detail::running_task(h);
        if (task_->cancel_pending()) return false;
        EventLoop& loop = *task_->loop_;
        if (writing_)
            loop.add_writer(fd_, [this] { fire(); });
        else
            loop.add_reader(fd_, [this] { fire(); });
        armed_ = true;
        task_->wait_ = detail::WaitRef::to(*this);
        task_->resume_point_ = h;
        return true;
    }

    void await_resume() { task_->throw_if_cancelled(); }

private:
    friend class detail::WaitRef;
    void fire() {
        detach();
        task_->wait_ = {};
        task_->loop_->schedule(*task_);
    }
    bool on_cancel(const std::string&) {
        detach();
        return false;
    }
    void detach() noexcept {
        armed_ = false;
        EventLoop& loop = *task_->loop_;
        if (writing_)
            loop.remove_writer(fd_);
        else
            loop.remove_reader(fd_);
    }

    int fd_;
    bool writing_;
    bool armed_ = false;
    detail::PromiseBase* task_ = nullptr;
};

/// Suspends the calling task until `fd` is readable (or at EOF / error).
inline FdWaitAwaitable wait_readable(int fd) noexcept { return FdWaitAwaitable(fd, false); }
/// Suspends the calling task until `fd` is writable.
inline FdWaitAwaitable wait_writable(int fd) noexcept { return FdWaitAwaitable(fd, true); }

} // namespace aio
