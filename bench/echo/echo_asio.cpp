// echo_asio.cpp — the echo server of the echo benchmark in Boost.Asio (>= 1.81, header-only)
// with C++20 coroutines: asio::awaitable, co_spawn, use_awaitable, on an io_context run by one
// thread (concurrency hint 1).
//
//   echo_asio --port P        (P = 0: the kernel picks a free port)
//
// Listens on 127.0.0.1 only, prints one line `port=<N>` (flushed) once listening, then serves
// until SIGTERM or SIGINT (an asio::signal_set stops the io_context; exit status 0).
// Each connection is one co_spawn'ed awaitable looping
//     n = co_await socket.async_read_some(buffer(buf), use_awaitable);   // up to 64 KiB
//     co_await asio::async_write(socket, buffer(buf, n), use_awaitable);
// until EOF. Errors come back through redirect_error instead of exceptions, so the end of a
// connection costs no throw. Accepted sockets get TCP_NODELAY, like asyncio's and uvloop's.
//
// Build: c++ -std=c++20 -O2 -o echo_asio echo_asio.cpp -pthread
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr std::size_t kBufSize = 65536;

asio::awaitable<void> session(tcp::socket socket) {
    boost::system::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    auto buf = std::make_unique<char[]>(kBufSize);
    for (;;) {
        std::size_t n =
            co_await socket.async_read_some(asio::buffer(buf.get(), kBufSize), asio::redirect_error(asio::use_awaitable, ec));
        if (ec) break; // eof, or the peer is gone
        co_await asio::async_write(socket, asio::buffer(buf.get(), n), asio::redirect_error(asio::use_awaitable, ec));
        if (ec) break;
    }
    socket.close(ec);
}

asio::awaitable<void> listener(tcp::acceptor acceptor) {
    for (;;) {
        boost::system::error_code ec;
        tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (ec == asio::error::operation_aborted) co_return;
        if (ec) continue; // ECONNABORTED, EMFILE, ...: keep serving the others
        asio::co_spawn(acceptor.get_executor(), session(std::move(socket)), asio::detached);
    }
}

} // namespace

int main(int argc, char** argv) {
    long port = -1;
    if (argc == 3 && std::strcmp(argv[1], "--port") == 0) {
        char* end = nullptr;
        port = std::strtol(argv[2], &end, 10);
        if (*end || port > 65535) port = -1;
    }
    if (port < 0) {
        std::fprintf(stderr, "usage: echo_asio --port P   (0: any free port)\n");
        return 2;
    }
    try {
        asio::io_context ioc(1);
        tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), static_cast<unsigned short>(port)),
                               /*reuse_address=*/true);
        std::printf("port=%u\n", static_cast<unsigned>(acceptor.local_endpoint().port()));
        std::fflush(stdout);

        asio::signal_set signals(ioc, SIGTERM, SIGINT);
        signals.async_wait([&](const boost::system::error_code&, int) { ioc.stop(); });
        asio::co_spawn(ioc, listener(std::move(acceptor)), asio::detached);
        ioc.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "echo_asio: %s\n", e.what());
        return 1;
    }
    return 0;
}
