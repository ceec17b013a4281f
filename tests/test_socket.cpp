// aio::Socket and the loop's sock_* calls over loopback TCP and Unix sockets.
#include "catch.hpp"
#include "test_util.hpp"
#include <aio/aio.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <system_error>

using namespace std::chrono_literals;

namespace {

// Reads until EOF.
aio::Task<std::string> read_all(aio::EventLoop& loop, aio::Socket& socket) {
    std::string got;
    std::byte buf[65536];
    for (;;) {
        const std::size_t n = co_await loop.sock_recv(socket, buf);
        if (n == 0)
            co_return got;
        got.append(reinterpret_cast<const char*>(buf), n);
    }
}

// Accepts one connection, reads it to EOF, answers with the byte count, closes.
aio::Task<aio::SocketAddress> serve_one(aio::EventLoop& loop, aio::Socket& listener,
                                        std::string& received) {
    auto [connection, peer] = co_await loop.sock_accept(listener);
    received = co_await read_all(loop, connection);
    co_await loop.sock_sendall(connection, std::to_string(received.size()));
    co_return peer;
}

aio::Socket listening_tcp() {
    aio::Socket listener = aio::Socket::tcp();
    listener.set_option(SOL_SOCKET, SO_REUSEADDR, 1);
    listener.bind({"127.0.0.1", 0});
    listener.listen();
    return listener;
}

} // namespace

TEST_CASE("sockets: a TCP client sends 4 MiB with sock_sendall, the server accepts, reads to EOF "
          "and answers",
          "[socket]") {
    const int fds_before = aio_test::open_fd_count();
    {
        aio::EventLoop loop;
        std::string received;
        const std::string payload(4 << 20, 'x');
        auto body = [&]() -> aio::Task<std::string> {
            aio::Socket listener = listening_tcp();
            const aio::SocketAddress address = listener.sockname();
            REQUIRE(address.port() != 0);
            auto server = aio::create_task(serve_one(loop, listener, received));
            aio::Socket client = aio::Socket::tcp();
            co_await loop.sock_connect(client, address);
            REQUIRE(client.peername() == address);
            // Not inside REQUIRE: Catch's macro may evaluate a co_await more than once.
            const std::size_t sent = co_await loop.sock_sendall(client, payload);
            REQUIRE(sent == payload.size());
            ::shutdown(client.fd(), SHUT_WR);
            std::string answer = co_await read_all(loop, client);
            const aio::SocketAddress peer = co_await server;
            REQUIRE(peer == client.sockname());
            co_return answer;
        };
        REQUIRE(loop.run_until_complete(body()) == std::to_string(payload.size()));
        REQUIRE(received == payload);
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("sockets: connecting to a closed port throws ECONNREFUSED naming the address",
          "[socket]") {
    aio::EventLoop loop;
    auto body = [&]() -> aio::Task<std::string> {
        aio::SocketAddress address;
        {
            aio::Socket probe = listening_tcp(); // a port nobody listens on once it is closed
            address = probe.sockname();
        }
        aio::Socket client = aio::Socket::tcp();
        try {
            co_await loop.sock_connect(client, address);
        } catch (const std::system_error& e) {
            co_return std::to_string(e.code().value()) + " " + e.what();
        }
        co_return "connected";
    };
    const std::string outcome = loop.run_until_complete(body());
    REQUIRE(outcome.rfind(std::to_string(ECONNREFUSED) + " connect(127.0.0.1:", 0) == 0);
}

TEST_CASE("sockets: a cancelled sock_accept takes nothing, and the next accept gets the connection",
          "[socket]") {
    aio::EventLoop loop(aio_test::virtual_loop());
    auto body = [&]() -> aio::Task<std::string> {
        aio::Socket listener = listening_tcp();
        auto waiting = aio::create_task([](aio::EventLoop& l, aio::Socket& s) -> aio::Task<> {
            co_await l.sock_accept(s);
        }(loop, listener));
        co_await aio::sleep(1ms);
        waiting.cancel();
        co_await aio_test::error_of(waiting);
        REQUIRE(waiting.cancelled());
        aio::Socket client = aio::Socket::tcp();
        co_await loop.sock_connect(client, listener.sockname());
        auto [connection, peer] = co_await loop.sock_accept(listener);
        REQUIRE(peer == client.sockname());
        co_await loop.sock_sendall(connection, "hi");
        connection.close();
        co_return co_await read_all(loop, client);
    };
    REQUIRE(loop.run_until_complete(body()) == "hi");
}

TEST_CASE("sockets: Unix stream sockets, and every socket is non-blocking and close-on-exec",
          "[socket]") {
    aio::EventLoop loop;
    const std::string path = "/tmp/aio-test-" + std::to_string(::getpid()) + ".sock";
    ::unlink(path.c_str());
    auto body = [&]() -> aio::Task<std::string> {
        aio::Socket listener = aio::Socket::unix_stream();
        listener.bind(aio::SocketAddress::unix_path(path));
        listener.listen();
        aio::Socket client = aio::Socket::unix_stream();
        for (int fd : {listener.fd(), client.fd()}) {
            REQUIRE((::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
            REQUIRE((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
        }
        co_await loop.sock_connect(client, aio::SocketAddress::unix_path(path));
        auto [connection, peer] = co_await loop.sock_accept(listener);
        REQUIRE((::fcntl(connection.fd(), F_GETFL) & O_NONBLOCK) != 0);
        REQUIRE((::fcntl(connection.fd(), F_GETFD) & FD_CLOEXEC) != 0);
        REQUIRE(peer.family() == AF_UNIX);
        co_await loop.sock_sendall(client, "over unix");
        client.close();
        co_return co_await read_all(loop, connection);
    };
    const std::string got = loop.run_until_complete(body());
    ::unlink(path.c_str());
    REQUIRE(got == "over unix");
}
