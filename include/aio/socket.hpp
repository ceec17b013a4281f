// aio::Socket — an owned, non-blocking, close-on-exec socket that never raises SIGPIPE — and the
// loop's low-level socket calls (asyncio's loop.sock_connect / sock_recv / sock_sendall /
// sock_accept), built on the I/O driver's operations (detail/io_operations.hpp). Every call here
// returns an awaitable, not a coroutine: no allocation per call.
#pragma once

#include <aio/detail/io_driver.hpp>
#include <aio/detail/io_operations.hpp>
#include <aio/event_loop.hpp>
#include <aio/socket_address.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <coroutine>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace aio {

/// Owns a socket fd: non-blocking and close-on-exec from birth, never raising SIGPIPE. Move-only.
/// Closing (or destroying) it while a loop runs on this thread goes through that loop's I/O
/// driver (aio::close_fd): tasks waiting on it get std::system_error (EBADF) and its
/// registration goes. Failing calls throw std::system_error naming the call and the address.
class Socket {
public:
    Socket() noexcept = default;
    /// Adopts `fd` (which should be non-blocking and close-on-exec).
    explicit Socket(int fd) noexcept : fd_(fd) {}
    Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Socket& operator=(Socket&& other) noexcept {
        if (this != &other) {
            close();
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    ~Socket() { close(); }

    /// A new socket of `family` (AF_INET, AF_INET6, AF_UNIX) and `type` (SOCK_STREAM,
    /// SOCK_DGRAM). Throws std::system_error (EAFNOSUPPORT, EMFILE...).
    static Socket open(int family, int type) {
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
        Socket socket(::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!socket)
            throw std::system_error(errno, std::system_category(), "socket()");
#else
        Socket socket(::socket(family, type, 0));
        if (!socket)
            throw std::system_error(errno, std::system_category(), "socket()");
        ::fcntl(socket.fd_, F_SETFL, ::fcntl(socket.fd_, F_GETFL) | O_NONBLOCK);
        ::fcntl(socket.fd_, F_SETFD, FD_CLOEXEC);
#endif
        socket.no_sigpipe();
        detail::io::fresh_fd(socket.fd_);
        return socket;
    }
    /// A TCP socket, TCP_NODELAY on (as asyncio's).
    static Socket tcp(int family = AF_INET) {
        Socket socket = open(family, SOCK_STREAM);
        socket.set_option(IPPROTO_TCP, TCP_NODELAY, 1);
        return socket;
    }
    /// A UDP socket.
    static Socket udp(int family = AF_INET) {
        return open(family, SOCK_DGRAM);
    }
    /// A Unix-domain stream socket.
    static Socket unix_stream() {
        return open(AF_UNIX, SOCK_STREAM);
    }

    int fd() const noexcept {
        return fd_;
    }
    bool is_open() const noexcept {
        return fd_ >= 0;
    }
    explicit operator bool() const noexcept {
        return is_open();
    }
    /// Gives the fd up; the caller closes it.
    int release() noexcept {
        return std::exchange(fd_, -1);
    }

    /// Closes the socket; a no-op when closed. Never throws.
    void close() noexcept {
        if (fd_ < 0)
            return;
        const int fd = std::exchange(fd_, -1);
        if (detail::LoopCore* loop = detail::tls_running_core)
            detail::io::close(*loop, fd);
        else
            ::close(fd);
    }

    /// setsockopt with an int value. Throws std::system_error.
    void set_option(int level, int name, int value) {
        if (::setsockopt(fd_, level, name, &value, sizeof value) != 0)
            throw std::system_error(errno, std::system_category(),
                                    "setsockopt(" + std::to_string(name) + ")");
    }

    /// SO_REUSEPORT: several sockets (one loop per thread) bind one address and the kernel
    /// spreads the traffic. Throws aio::ValueError where the platform has no SO_REUSEPORT.
    void set_reuse_port() {
#if defined(SO_REUSEPORT)
        set_option(SOL_SOCKET, SO_REUSEPORT, 1);
#else
        throw ValueError("reuse_port: SO_REUSEPORT is not supported on this platform");
#endif
    }

    /// Throws std::system_error (EADDRINUSE, EACCES...) naming the address.
    void bind(const SocketAddress& address) {
        if (::bind(fd_, address.native(), address.native_size()) != 0)
            throw std::system_error(errno, std::system_category(),
                                    "bind(" + address.to_string() + ")");
    }
    /// Starts listening; the default backlog is libuv's and Tokio's (asyncio's is 100).
    void listen(int backlog = 511) {
        if (::listen(fd_, backlog) != 0)
            throw std::system_error(errno, std::system_category(), "listen()");
    }

    /// The local address (after bind to port 0: the port the OS chose). Throws std::system_error.
    SocketAddress sockname() const {
        return detail::socket_name(fd_, false);
    }
    /// The peer's address. Throws std::system_error (ENOTCONN).
    SocketAddress peername() const {
        return detail::socket_name(fd_, true);
    }

    /// Where MSG_NOSIGNAL does not exist (macOS/BSD), sets SO_NOSIGPIPE: for fds adopted from
    /// accept(). open() does it already.
    void no_sigpipe() {
#if defined(SO_NOSIGPIPE)
        set_option(SOL_SOCKET, SO_NOSIGPIPE, 1); // macOS/BSD have no MSG_NOSIGNAL for every call
#endif
    }

private:
    int fd_ = -1;
};

/// What sock_accept gives: the connection and the peer's address.
struct Accepted {
    Socket socket;
    SocketAddress address;
};

namespace detail {

/// An accepted connection of `family`, set up as Socket::tcp() sets up its own: no SIGPIPE,
/// TCP_NODELAY on for TCP (as asyncio's).
inline Socket adopt_accepted(int fd, int family) {
    Socket connection(fd);
    connection.no_sigpipe();
    if (family == AF_INET || family == AF_INET6)
        connection.set_option(IPPROTO_TCP, TCP_NODELAY, 1);
    return connection;
}

/// The awaitable loop.sock_accept returns: accept4 into its own address storage when the
/// listener is readable. Movable until awaited.
class [[nodiscard]] SockAccept final : public IoAwaiter {
public:
    explicit SockAccept(int listener) noexcept : listener_(listener) {}

    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        return start_operation(h, listener_, IoDirection::read, &accept_one);
    }

    /// Throws CancelledError when cancelled while waiting, std::system_error when accept failed.
    Accepted await_resume() {
        if (!completed)
            throw_cancelled(*task);
        if (error)
            throw_io_error(error, "accept", listener_);
        return Accepted{
            adopt_accepted(static_cast<int>(result), storage_.ss_family),
            SocketAddress::from_native(reinterpret_cast<const sockaddr*>(&storage_), length_)};
    }

private:
    static bool accept_one(IoOpNode& node, IoRegistration& reg) noexcept {
        auto& self = static_cast<SockAccept&>(node);
        for (;;) {
            self.length_ = sizeof self.storage_;
            const int fd = io::accept_nonblocking(
                reg.fd, reinterpret_cast<sockaddr*>(&self.storage_), &self.length_);
            if (fd >= 0) {
                self.result = fd;
                return true;
            }
            if (errno == ECONNABORTED)
                continue; // a peer gave up while in the backlog: take the next one
            const Failure failure = classify_failure(self, reg, IoDirection::read);
            if (failure != Failure::retry)
                return failure == Failure::failed;
        }
    }

    int listener_;
    sockaddr_storage storage_{};
    socklen_t length_ = 0;
};

} // namespace detail

inline detail::io::ConnectOperation EventLoop::sock_connect(Socket& socket,
                                                            const SocketAddress& address) {
    check_usable("sock_connect");
    return detail::io::connect(socket.fd(), address);
}

inline auto EventLoop::sock_recv(Socket& socket, std::span<std::byte> buffer) {
    check_usable("sock_recv");
    return detail::io::recv(socket.fd(), buffer);
}

inline detail::io::SendAllOperation EventLoop::sock_sendall(Socket& socket, std::string_view data) {
    check_usable("sock_sendall");
    return detail::io::send_all(socket.fd(), data);
}

inline detail::SockAccept EventLoop::sock_accept(Socket& listener) {
    check_usable("sock_accept");
    return detail::SockAccept(listener.fd());
}

} // namespace aio
