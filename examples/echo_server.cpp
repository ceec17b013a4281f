// echo_server.cpp — the TCP echo server of asyncio's streams documentation, in C++ (its
// client is echo_client.cpp):
//
//     async def handle_echo(reader, writer):
//         data = await reader.read(100)
//         message = data.decode()
//         addr = writer.get_extra_info('peername')
//         print(f"Received {message!r} from {addr!r}")
//         print(f"Send: {message!r}")
//         writer.write(data)
//         await writer.drain()
//         print("Close the connection")
//         writer.close()
//         await writer.wait_closed()
//
//     async def main():
//         server = await asyncio.start_server(handle_echo, '127.0.0.1', 8888)
//         addrs = ', '.join(str(sock.getsockname()) for sock in server.sockets)
//         print(f'Serving on {addrs}')
//         async with server:
//             await server.serve_forever()
//
// `echo_server --port 8888` serves forever (Ctrl-C stops it), for `echo_client --port 8888`
// or `nc 127.0.0.1 8888`. Run without arguments it is a self-contained demo that ends: it
// listens on a free port (port 0), runs the documentation's client against itself in the same
// event loop, then shuts the server down as asyncio 3.13 does (close, close_clients,
// wait_closed).
//
// Output without arguments (the ports vary; "(client)" marks the client's lines):
//     Serving on 127.0.0.1:40123
//     (client) Send: 'Hello World!'
//     Received 'Hello World!' from 127.0.0.1:51234
//     Send: 'Hello World!'
//     Close the connection
//     (client) Received: 'Hello World!'
//     (client) Close the connection
//     server closed

#include <aio/aio.hpp>

#include <fmt/core.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

aio::Task<> handle_echo(aio::StreamReader reader, aio::StreamWriter writer) {
    std::string message = co_await reader.read(100);
    const aio::SocketAddress addr = writer.peername();
    fmt::print("Received '{}' from {}\n", message, addr);

    fmt::print("Send: '{}'\n", message);
    writer.write(message);
    co_await writer.drain();

    fmt::print("Close the connection\n");
    writer.close();
    co_await writer.wait_closed();
}

aio::Task<aio::Server> start_echo_server(std::uint16_t port) {
    aio::Server server = co_await aio::start_server(handle_echo, "127.0.0.1", port);
    std::string addrs;
    for (const aio::Socket& socket : server.sockets())
        addrs += (addrs.empty() ? "" : ", ") + socket.sockname().to_string();
    fmt::print("Serving on {}\n", addrs);
    co_return server;
}

aio::Task<> serve_forever(std::uint16_t port) {
    aio::Server server = co_await start_echo_server(port);
    co_await server.serve_forever();
}

// The documentation's client (echo_client.cpp), its lines marked "(client)".
aio::Task<> tcp_echo_client(std::string message, std::uint16_t port) {
    auto [reader, writer] = co_await aio::open_connection("127.0.0.1", port);

    fmt::print("(client) Send: '{}'\n", message);
    writer.write(message);
    co_await writer.drain();

    std::string data = co_await reader.read(100);
    fmt::print("(client) Received: '{}'\n", data);

    fmt::print("(client) Close the connection\n");
    writer.close();
    co_await writer.wait_closed();
}

aio::Task<> demo() {
    aio::Server server = co_await start_echo_server(0);
    co_await tcp_echo_client("Hello World!", server.port());
    server.close();
    // The handler may still be between its write and wait_closed(): close_clients() lets it
    // finish flushing, and wait_closed() returns once every connection has ended.
    server.close_clients();
    co_await server.wait_closed();
    fmt::print("server closed\n");
}

} // namespace

int main(int argc, char** argv) {
    if (argc == 1) {
        aio::run(demo());
        return 0;
    }
    const unsigned long port = argc == 3 ? std::strtoul(argv[2], nullptr, 10) : 0;
    if (argc != 3 || std::string_view(argv[1]) != "--port" || port == 0 || port > 65535) {
        fmt::print(stderr, "usage: {} [--port N]\n", argv[0]);
        return 2;
    }
    aio::run(serve_forever(static_cast<std::uint16_t>(port)));
}
