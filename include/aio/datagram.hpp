// aio datagrams — UDP (and Unix datagram) endpoints, asyncio's create_datagram_endpoint as
// awaitable calls instead of a protocol's callbacks.
//
//   aio::DatagramEndpoint ep = co_await aio::create_datagram_endpoint(
//       aio::DatagramOptions{.local_addr = {"127.0.0.1", 0}});
//   co_await ep.sendto("ping", peer);
//   auto [data, from] = co_await ep.recvfrom();
#pragma once

#include <aio/detail/deferred.hpp>
#include <aio/detail/io_driver.hpp>
#include <aio/detail/io_operations.hpp>
#include <aio/errors.hpp>
#include <aio/event_loop.hpp>
#include <aio/run.hpp>
#include <aio/socket.hpp>
#include <aio/socket_address.hpp>
#include <aio/task.hpp>

#include <sys/socket.h>

#include <cerrno>
#include <coroutine>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace aio {

/// Options of create_datagram_endpoint.
struct DatagramOptions {
    /// Bind here (port 0: the OS picks; sockname() says which).
    SocketAddress local_addr{};
    /// Connect here: send() goes to it and only its datagrams are received.
    SocketAddress remote_addr{};
    /// The family when neither address is given (AF_INET or AF_INET6).
    int family = AF_INET;
    /// SO_REUSEPORT: one endpoint per loop (thread) on one port.
    bool reuse_port = false;
    /// SO_BROADCAST.
    bool allow_broadcast = false;
};

/// One datagram and who sent it.
struct Datagram {
    std::string data;
    SocketAddress addr;
};

namespace detail {

/// The awaitable recvfrom returns: one datagram (up to `max` bytes; a longer one is cut, as
/// recvfrom(2) does) into its own buffer when the socket is readable. Cancel-safe: a datagram
/// received is returned even if the task was cancelled meanwhile.
class [[nodiscard]] RecvFromOperation final : public IoAwaiter {
public:
    RecvFromOperation(int fd, std::size_t max) : fd_(fd), max_(max) {}

    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        buffer_ = std::make_unique_for_overwrite<char[]>(max_);
        return start_operation(h, fd_, IoDirection::read, &receive);
    }

    /// Throws CancelledError, or std::system_error (ECONNREFUSED after an ICMP "port
    /// unreachable" on a connected endpoint...).
    Datagram await_resume() {
        if (!completed)
            throw_cancelled(*task);
        if (error)
            throw_io_error(error, "recvfrom", fd_);
        return Datagram{std::string(buffer_.get(), static_cast<std::size_t>(result)),
                        length_ > 0 ? SocketAddress::from_native(
                                          reinterpret_cast<const sockaddr*>(&from_), length_)
                                    : SocketAddress()};
    }

private:
    static bool receive(IoOpNode& node, IoRegistration& reg) noexcept {
        auto& self = static_cast<RecvFromOperation&>(node);
        for (;;) {
            self.length_ = sizeof self.from_;
            const ssize_t n = ::recvfrom(reg.fd, self.buffer_.get(), self.max_, 0,
                                         reinterpret_cast<sockaddr*>(&self.from_), &self.length_);
            if (n >= 0) {
                self.result = n;
                return true;
            }
            const Failure failure = classify_failure(self, reg, IoDirection::read);
            if (failure != Failure::retry)
                return failure == Failure::failed;
        }
    }

    int fd_;
    std::size_t max_;
    std::unique_ptr<char[]> buffer_;
    sockaddr_storage from_{};
    socklen_t length_ = 0;
};

} // namespace detail

/// A datagram socket on the running loop (asyncio's DatagramTransport, awaited instead of
/// called back). Move-only; destroying it closes it. Every call throws aio::RuntimeError once
/// closed.
class DatagramEndpoint {
public:
    DatagramEndpoint() noexcept = default;
    explicit DatagramEndpoint(Socket socket) noexcept : socket_(std::move(socket)) {}

    /// `co_await ep.sendto(data, addr)`: sends one datagram, waiting while the socket buffer
    /// is full (rare for UDP). `data` must stay valid until the co_await completes. Throws
    /// std::system_error (EMSGSIZE for a datagram too big, ECONNREFUSED...). Cancel-safe: a
    /// cancelled send sent nothing.
    auto sendto(std::string_view data, const SocketAddress& addr) {
        const int fd = checked("sendto");
        return detail::io::make_operation(
            fd, detail::IoDirection::write, "sendto", 0, [data, addr](int s) noexcept {
                return ::sendto(s, data.data(), data.size(), detail::io::no_sigpipe, addr.native(),
                                addr.native_size());
            });
    }
    /// `co_await ep.send(data)`: to the remote_addr given at creation (as sendto).
    auto send(std::string_view data) {
        const int fd = checked("send");
        return detail::io::make_operation(
            fd, detail::IoDirection::write, "send", 0, [data](int s) noexcept {
                return ::send(s, data.data(), data.size(), detail::io::no_sigpipe);
            });
    }
    /// `auto [data, from] = co_await ep.recvfrom()`: the next datagram (up to `max` bytes).
    /// Cancel-safe. Throws std::system_error.
    detail::RecvFromOperation recvfrom(std::size_t max = 65536) {
        return detail::RecvFromOperation(checked("recvfrom"), max);
    }

    /// Closes the socket (a pending recvfrom / sendto throws std::system_error EBADF).
    /// Idempotent.
    void close() noexcept { socket_.close(); }
    bool is_closing() const noexcept { return !socket_.is_open(); }
    /// The local address (the port the OS picked).
    SocketAddress sockname() const { return socket_.sockname(); }
    /// The remote address of a connected endpoint.
    SocketAddress peername() const { return socket_.peername(); }
    int fd() const noexcept { return socket_.fd(); }

private:
    int checked(const char* what) const {
        if (!socket_)
            throw RuntimeError(std::string(what) + "() on a closed DatagramEndpoint");
        return socket_.fd();
    }

    Socket socket_;
};

namespace detail {

template <class D = void> // compiled only where used
DatagramEndpoint make_datagram_endpoint(const DatagramOptions& options) {
    int family = options.family;
    if (!options.local_addr.empty())
        family = options.local_addr.family();
    else if (!options.remote_addr.empty())
        family = options.remote_addr.family();
    Socket socket = Socket::open(family, SOCK_DGRAM);
    if (options.reuse_port)
        socket.set_reuse_port();
    if (options.allow_broadcast)
        socket.set_option(SOL_SOCKET, SO_BROADCAST, 1);
    if (!options.local_addr.empty())
        socket.bind(options.local_addr);
    if (!options.remote_addr.empty() && ::connect(socket.fd(), options.remote_addr.native(),
                                                  options.remote_addr.native_size()) != 0)
        throw std::system_error(errno, std::system_category(),
                                "connect(" + options.remote_addr.to_string() + ")");
    return DatagramEndpoint(std::move(socket));
}

template <class D = void>
Task<deferred_t<D, DatagramEndpoint>> create_datagram_endpoint_task(DatagramOptions options) {
    co_return make_datagram_endpoint<D>(options);
}

} // namespace detail

/// A datagram endpoint (asyncio.create_datagram_endpoint): a non-blocking, close-on-exec UDP
/// socket (Unix datagram for Unix addresses) bound to `local_addr` and/or connected to
/// `remote_addr`. Throws std::system_error (EADDRINUSE...) naming the address.
template <class D = void>
Task<DatagramEndpoint> create_datagram_endpoint(DatagramOptions options = {}) {
    return detail::create_datagram_endpoint_task<D>(std::move(options));
}

} // namespace aio
