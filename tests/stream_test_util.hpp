// Helpers the stream and server tests share (test_streams.cpp, test_server.cpp).
#pragma once

#include "io_test_util.hpp"
#include "test_util.hpp"
#include <aio/aio.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace aio_test::streams {

/// Live registrations of the loop's I/O driver (a test checks none is left behind).
inline std::size_t registrations(aio::EventLoop& loop) {
    return aio::detail::LoopAccess::io(loop).registered_count();
}

/// An echo handler: reads lines and writes each back until EOF.
inline aio::Task<> echo_lines(aio::StreamReader reader, aio::StreamWriter writer) {
    for (;;) {
        std::string line = co_await reader.readline();
        if (line.empty())
            break;
        writer.write(line);
        co_await writer.drain();
    }
}

/// An echo handler for bytes: read(64 KiB) and write back until EOF, then close.
inline aio::Task<> echo_bytes(aio::StreamReader reader, aio::StreamWriter writer) {
    for (;;) {
        std::string data = co_await reader.read(65536);
        if (data.empty())
            break;
        writer.write(std::move(data));
        co_await writer.drain();
    }
    writer.close();
}

/// A connected pair of Unix stream sockets wrapped as aio::Sockets.
inline std::pair<aio::Socket, aio::Socket> socket_pair(int type = SOCK_STREAM) {
    int fds[2];
    if (::socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
        throw std::system_error(errno, std::system_category(), "socketpair");
    return {aio::Socket(fds[0]), aio::Socket(fds[1])};
}

/// Sends all of `data` on a raw non-blocking fd (a test's side of a socket pair).
inline void send_all_raw(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            throw std::system_error(errno, std::system_category(), "send");
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

/// Sets SO_LINGER {1, 0} so that close() sends a RST (a peer "resetting" the connection).
inline void linger_zero(int fd) {
    linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

/// A connection whose raw peer has sent `data` and then reset it (SO_LINGER {1, 0}, close).
inline aio::Task<aio::Connection> connection_reset_by_peer(std::string data) {
    aio::Socket listener = aio::Socket::tcp();
    listener.bind({"127.0.0.1", 0});
    listener.listen();
    aio::Connection connection =
        co_await aio::open_connection("127.0.0.1", listener.sockname().port());
    auto [peer, address] = co_await aio::get_running_loop().sock_accept(listener);
    send_all_raw(peer.fd(), data);
    linger_zero(peer.fd());
    peer.close();
    co_return connection;
}

/// Raises the soft RLIMIT_NOFILE to at least `want` for the scope (skips when the hard limit
/// is lower; returns false then).
class FdLimit {
public:
    explicit FdLimit(rlim_t soft) {
        ::getrlimit(RLIMIT_NOFILE, &saved_);
        rlimit wanted = saved_;
        wanted.rlim_cur = soft;
        ok_ = soft <= saved_.rlim_max && ::setrlimit(RLIMIT_NOFILE, &wanted) == 0;
    }
    FdLimit(const FdLimit&) = delete;
    FdLimit& operator=(const FdLimit&) = delete;
    ~FdLimit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
    bool ok() const { return ok_; }

private:
    rlimit saved_{};
    bool ok_ = false;
};

} // namespace aio_test::streams
