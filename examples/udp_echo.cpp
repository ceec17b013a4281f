// udp_echo.cpp — a UDP echo server and client, asyncio's "UDP echo" pair with
// create_datagram_endpoint, awaited instead of called back through a DatagramProtocol:
//
//     class EchoServerProtocol:                      # asyncio
//         def datagram_received(self, data, addr):
//             self.transport.sendto(data, addr)
//
//     auto [data, from] = co_await endpoint.recvfrom();   // aio
//     co_await endpoint.sendto(data, from);
//
// The server is bound to 127.0.0.1 on a free port (port 0); the client's endpoint is
// connected to it (remote_addr), so send() needs no address and only the server's datagrams
// reach it. UDP may lose datagrams, so the client waits for each reply with a timeout
// (aio::wait_for) and would say so instead of hanging; on loopback none is lost. Each datagram
// is one message, even an empty one, which a TCP stream could not carry.
//
// Output (the ports vary):
//     UDP echo server on 127.0.0.1:40123
//     client 127.0.0.1:51234 sends 3 datagrams
//     server: 13 bytes from 127.0.0.1:51234: 'first message'
//     client: echoed 'first message'
//     server: 6 bytes from 127.0.0.1:51234: 'second'
//     client: echoed 'second'
//     server: 0 bytes from 127.0.0.1:51234: ''
//     client: echoed ''
//     server closed

#include <aio/aio.hpp>

#include <fmt/core.h>

#include <array>
#include <chrono>
#include <string>
#include <system_error>

using namespace std::chrono_literals;

namespace {

aio::Task<> echo_server(aio::DatagramEndpoint& endpoint) {
    for (;;) {
        auto [data, from] = co_await endpoint.recvfrom();
        fmt::print("server: {} bytes from {}: '{}'\n", data.size(), from, data);
        co_await endpoint.sendto(data, from);
    }
}

aio::Task<> client(aio::SocketAddress server_address) {
    aio::DatagramOptions options;
    options.remote_addr = server_address;
    aio::DatagramEndpoint endpoint = co_await aio::create_datagram_endpoint(options);
    const std::array<std::string, 3> messages = {"first message", "second", ""};
    fmt::print("client {} sends {} datagrams\n", endpoint.sockname(), messages.size());
    for (const std::string& message : messages) {
        co_await endpoint.send(message);
        try {
            aio::Datagram reply = co_await aio::wait_for(endpoint.recvfrom(), 1s);
            fmt::print("client: echoed '{}'\n", reply.data);
        } catch (const aio::TimeoutError&) {
            fmt::print("client: no reply to '{}' within 1 s (lost?)\n", message);
        }
    }
}

aio::Task<> main_task() {
    aio::DatagramOptions options;
    options.local_addr = aio::SocketAddress("127.0.0.1", 0);
    aio::DatagramEndpoint endpoint = co_await aio::create_datagram_endpoint(options);
    fmt::print("UDP echo server on {}\n", endpoint.sockname());
    aio::Task<> server = aio::create_task(echo_server(endpoint));

    co_await client(endpoint.sockname());

    // A UDP server has no connection to end: it serves until it is cancelled.
    server.cancel();
    try {
        co_await server;
    } catch (const aio::CancelledError&) {
    }
    endpoint.close();
    fmt::print("server closed\n");
}

} // namespace

int main() {
    aio::run(main_task());
}
