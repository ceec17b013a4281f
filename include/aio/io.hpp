// aio::wait_readable / aio::wait_writable — suspend the calling task until an fd is ready —
// and aio::read_some / aio::write_some / aio::close_fd for raw fds (pipes, ttys, eventfds),
// all on the running loop's I/O driver (detail/io_driver.hpp).
#pragma once

#include <aio/detail/io_driver.hpp>
#include <aio/detail/io_operations.hpp>
#include <aio/detail/promise_base.hpp>
#include <aio/detail/waiter_list.hpp>
#include <aio/errors.hpp>

#include <coroutine>
#include <cstddef>
#include <span>
#include <string>

namespace aio {

/// The awaitable wait_readable / wait_writable return. Awaiting allocates nothing and makes no
/// epoll_ctl call once the fd is registered (the first wait on an fd registers it, for good).
class [[nodiscard]] FdWaitAwaitable final : public detail::IoAwaiter {
public:
    FdWaitAwaitable(int fd, bool writing) noexcept
        : fd_(fd), direction_(writing ? detail::IoDirection::write : detail::IoDirection::read) {}

    /// Throws std::system_error when the fd cannot be watched (EBADF: not open; EPERM: a
    /// regular file).
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        detail::PromiseBase& task = detail::running_task(h);
        detail::IoDriver& driver = task.loop_->io();
        if (!driver.start_wait(driver.registration(fd_), direction_, *this, task))
            return false;
        task.park(h, detail::WaitRef::to(*this));
        return true;
    }

    /// Throws CancelledError when cancelled while waiting, std::system_error (EBADF) when the
    /// fd was closed with aio::close_fd meanwhile.
    void await_resume() {
        if (!completed)
            detail::throw_cancelled(*task);
        if (error)
            detail::throw_io_error(
                error, direction_ == detail::IoDirection::read ? "wait_readable" : "wait_writable",
                fd_);
        task->throw_if_cancelled();
    }

private:
    int fd_;
    detail::IoDirection direction_;
};

/// Suspends the calling task until `fd` is readable (or at EOF / error). Any number of tasks
/// may wait on the same fd; all are woken; add_reader callbacks on it keep running.
/// Cancellation: CancelledError, and no other waiter is touched.
inline FdWaitAwaitable wait_readable(int fd) noexcept {
    return FdWaitAwaitable(fd, false);
}
/// Suspends the calling task until `fd` is writable (as wait_readable).
inline FdWaitAwaitable wait_writable(int fd) noexcept {
    return FdWaitAwaitable(fd, true);
}

/// Reads up to `buffer.size()` bytes from a non-blocking fd, waiting while there are none;
/// returns how many (0 at EOF). Throws std::system_error on a read error. Cancel-safe: bytes
/// that were read are returned even if the task was cancelled meanwhile (the cancellation is
/// delivered at its next suspension point).
inline auto read_some(int fd, std::span<std::byte> buffer) noexcept {
    return detail::io::read(fd, buffer);
}

/// Writes up to `bytes.size()` bytes to a non-blocking fd, waiting while there is no room;
/// returns how many. Throws std::system_error (EPIPE when the reader is gone; never SIGPIPE on
/// sockets). Cancellation as read_some.
inline auto write_some(int fd, std::span<const std::byte> bytes) noexcept {
    return detail::io::write(fd, bytes);
}

/// Closes `fd` through the running loop's I/O driver: tasks waiting on it (wait_readable,
/// read_some, ...) are woken with std::system_error (EBADF), add_reader/add_writer callbacks
/// are dropped and its registration is removed, then ::close(fd). Use it instead of ::close
/// for an fd the loop has watched: a plain ::close leaves the registration behind, and a new
/// fd that reuses the number would wait for events that never come. Throws aio::RuntimeError
/// when no loop is running, std::system_error when ::close fails.
inline void close_fd(int fd) {
    detail::LoopCore* loop = detail::tls_running_core;
    if (!loop)
        throw RuntimeError(
            "aio::close_fd() needs a running event loop; call it from a task or callback");
    if (detail::io::close(*loop, fd) != 0)
        throw std::system_error(errno, std::system_category(), "close(" + std::to_string(fd) + ")");
}

} // namespace aio
