// aio::detail — the I/O driver's operations as awaitables: what the socket, stream and pipe
// code calls (never the poller). On epoll each is "try the syscall; on EAGAIN clear the
// readiness bit and wait"; the contract they keep for a completion backend is in io_driver.hpp.
//
//   std::size_t n = co_await io::recv(fd, buffer);         // 0 at EOF
//   std::size_t n = co_await io::send(fd, bytes);          // MSG_NOSIGNAL: never SIGPIPE
//   std::size_t n = co_await io::sendmsg(fd, msg);         // scatter/gather (writev)
//   int conn      = co_await io::accept(fd, addr, len);    // non-blocking, close-on-exec
//   co_await io::connect(fd, address);                     // EINPROGRESS handled
//   std::size_t n = co_await io::send_all(fd, bytes);      // every byte, or an error
//   std::size_t n = co_await io::read(fd, buffer);         // pipes, ttys, eventfds
//   std::size_t n = co_await io::write(fd, bytes);
//   io::close(loop, fd);                                   // ends pending operations (EBADF)
//
// Each throws std::system_error (errno, naming the call and the fd) on failure. Cancellation:
// a pending operation is unlinked and the task gets CancelledError; an operation that has
// already completed returns its result and the cancellation waits for the next suspension, so
// no byte is lost between the kernel and the caller.
#pragma once

#include <aio/detail/io_driver.hpp>
#include <aio/detail/promise_base.hpp>
#include <aio/detail/waiter_list.hpp>
#include <aio/socket_address.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <coroutine>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace aio::detail::io {

#if defined(MSG_NOSIGNAL)
inline constexpr int no_sigpipe = MSG_NOSIGNAL;
#else
inline constexpr int no_sigpipe = 0; // macOS: the socket layer sets SO_NOSIGPIPE instead
#endif

/// A new fd from the kernel (socket, accept): the running loop's driver forgets a stale
/// registration of the same number (IoDriver::forget_stale).
inline void fresh_fd(int fd) noexcept {
    if (fd >= 0)
        if (LoopCore* loop = tls_running_core)
            loop->io().forget_stale(fd);
}

/// accept(2) whose new fd is non-blocking and close-on-exec (accept4 where it exists).
inline int accept_nonblocking(int fd, sockaddr* address, socklen_t* length) noexcept {
#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
    const int conn = ::accept4(fd, address, length, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
    const int conn = ::accept(fd, address, length);
    if (conn >= 0) {
        ::fcntl(conn, F_SETFL, ::fcntl(conn, F_GETFL) | O_NONBLOCK);
        ::fcntl(conn, F_SETFD, FD_CLOEXEC);
    }
#endif
    fresh_fd(conn);
    return conn;
}

/// The awaitable every operation is: `Syscall` is `ssize_t(int fd)` returning -1 with errno on
/// failure. Movable until awaited (e.g. into aio::wait_for), never after.
template <class Syscall>
class [[nodiscard]] Operation final : public IoAwaiter {
public:
    /// `size`: the bytes asked for. On a byte stream (pipe, TCP, Unix stream) a transfer
    /// shorter than that means the kernel buffer ran dry (or full), so the readiness bit is
    /// cleared without another syscall to see EAGAIN (Tokio does the same); pass 0 where a
    /// short transfer means nothing (datagrams, accept).
    Operation(int fd, IoDirection direction, const char* name, std::size_t size,
              Syscall call) noexcept
        : fd_(fd), direction_(direction), name_(name), size_(size), call_(call) {}

    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        return start_operation(h, fd_, direction_, &perform_once);
    }

    std::size_t await_resume() {
        if (!completed)
            throw_cancelled(*task);
        if (error)
            throw_io_error(error, name_, fd_);
        return static_cast<std::size_t>(result);
    }

private:
    static bool perform_once(IoOpNode& node, IoRegistration& reg) noexcept {
        auto& self = static_cast<Operation&>(node);
        for (;;) {
            const ssize_t n = self.call_(reg.fd);
            if (n >= 0) {
                self.result = n;
                IoDriver::after_transfer(reg, self.direction_, static_cast<std::size_t>(n),
                                         self.size_);
                return true;
            }
            const Failure failure = classify_failure(self, reg, self.direction_);
            if (failure != Failure::retry)
                return failure == Failure::failed;
        }
    }

    int fd_;
    IoDirection direction_;
    const char* name_;
    std::size_t size_;
    Syscall call_;
};

template <class Syscall>
Operation<Syscall> make_operation(int fd, IoDirection direction, const char* name, std::size_t size,
                                  Syscall call) noexcept {
    return Operation<Syscall>(fd, direction, name, size, call);
}

/// recv on a stream socket (a short read clears readiness; use recvfrom for datagrams).
inline auto recv(int fd, std::span<std::byte> buffer, int flags = 0) noexcept {
    return make_operation(
        fd, IoDirection::read, "recv", buffer.size(),
        [buffer, flags](int s) noexcept { return ::recv(s, buffer.data(), buffer.size(), flags); });
}

inline auto send(int fd, std::span<const std::byte> bytes, int flags = 0) noexcept {
    return make_operation(fd, IoDirection::write, "send", bytes.size(),
                          [bytes, flags](int s) noexcept {
                              return ::send(s, bytes.data(), bytes.size(), flags | no_sigpipe);
                          });
}

inline auto sendmsg(int fd, const msghdr* message, int flags = 0) noexcept {
    return make_operation(fd, IoDirection::write, "sendmsg", 0, [message, flags](int s) noexcept {
        return ::sendmsg(s, message, flags | no_sigpipe);
    });
}

/// The accepted fd is non-blocking and close-on-exec.
inline auto accept(int fd, sockaddr* address = nullptr, socklen_t* length = nullptr) noexcept {
    return make_operation(fd, IoDirection::read, "accept", 0, [address, length](int s) noexcept {
        return static_cast<ssize_t>(accept_nonblocking(s, address, length));
    });
}

inline auto read(int fd, std::span<std::byte> buffer) noexcept {
    return make_operation(fd, IoDirection::read, "read", buffer.size(), [buffer](int f) noexcept {
        return ::read(f, buffer.data(), buffer.size());
    });
}

inline auto write(int fd, std::span<const std::byte> bytes) noexcept {
    return make_operation(fd, IoDirection::write, "write", bytes.size(), [bytes](int f) noexcept {
        return ::write(f, bytes.data(), bytes.size());
    });
}

/// connect(2) on a non-blocking socket: EINPROGRESS waits until the socket is writable, then
/// reads the outcome with SO_ERROR. Throws std::system_error with the connect error.
class [[nodiscard]] ConnectOperation final : public IoAwaiter {
public:
    /// Keeps its own copy of the address, so it may be moved until awaited.
    ConnectOperation(int fd, const SocketAddress& address) noexcept : fd_(fd), address_(address) {}

    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        PromiseBase& task = running_task(h);
        IoDriver& driver = task.loop_->io();
        IoRegistration& reg = driver.registration(fd_);
        this->task = &task;
        int rc;
        do {
            rc = ::connect(fd_, address_.native(), address_.native_size());
        } while (rc != 0 && errno == EINTR);
        if (rc == 0 || errno != EINPROGRESS) {
            error = rc == 0 ? 0 : errno;
            completed = true;
            return false;
        }
        // In progress: the socket becomes writable when the handshake ends either way.
        IoDriver::clear_ready(reg, IoDirection::write);
        perform = &check_outcome;
        if (!driver.start(reg, IoDirection::write, *this, task))
            return false;
        task.park(h, WaitRef::to(*this));
        return true;
    }

    void await_resume() {
        if (!completed)
            throw_cancelled(*task);
        if (error)
            throw std::system_error(error, std::system_category(),
                                    "connect(" + address_.to_string() + ")");
    }

private:
    static bool check_outcome(IoOpNode& node, IoRegistration& reg) noexcept {
        int so_error = 0;
        socklen_t len = sizeof so_error;
        if (::getsockopt(reg.fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0)
            so_error = errno;
        if (so_error == EINPROGRESS || so_error == EALREADY) {
            IoDriver::clear_ready(reg, IoDirection::write);
            return false;
        }
        node.error = so_error;
        return true;
    }

    int fd_;
    SocketAddress address_;
};

inline ConnectOperation connect(int fd, const SocketAddress& address) noexcept {
    return ConnectOperation(fd, address);
}

/// send(2) until every byte of `data` (its own copy) is sent, waiting while the socket buffer is
/// full; returns the byte count. Throws std::system_error (EPIPE, ECONNRESET...). If it fails
/// or is cancelled part way, how much was sent is unknown to the caller (as asyncio's sendall).
class [[nodiscard]] SendAllOperation final : public IoAwaiter {
public:
    SendAllOperation(int fd, std::string_view data) : fd_(fd), data_(data) {}

    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        return start_operation(h, fd_, IoDirection::write, &send_more);
    }

    std::size_t await_resume() {
        if (!completed)
            throw_cancelled(*task);
        if (error)
            throw_io_error(error, "send", fd_);
        return sent_;
    }

private:
    static bool send_more(IoOpNode& node, IoRegistration& reg) noexcept {
        auto& self = static_cast<SendAllOperation&>(node);
        while (self.sent_ < self.data_.size()) {
            const ssize_t n = ::send(reg.fd, self.data_.data() + self.sent_,
                                     self.data_.size() - self.sent_, no_sigpipe);
            if (n >= 0) {
                self.sent_ += static_cast<std::size_t>(n);
                continue;
            }
            const Failure failure = classify_failure(self, reg, IoDirection::write);
            if (failure != Failure::retry)
                return failure == Failure::failed;
        }
        return true;
    }

    int fd_;
    std::string data_;
    std::size_t sent_ = 0;
};

inline SendAllOperation send_all(int fd, std::string_view data) {
    return SendAllOperation(fd, data);
}

/// Ends the fd's pending operations (each throws std::system_error EBADF), drops its
/// registration, then closes it. Returns ::close's result.
inline int close(LoopCore& loop, int fd) noexcept {
    return loop.io().close(fd);
}

} // namespace aio::detail::io
