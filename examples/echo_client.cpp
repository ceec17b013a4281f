// echo_client.cpp — the TCP echo client of asyncio's streams documentation, in C++ (its
// server is echo_server.cpp):
//
//     async def tcp_echo_client(message):
//         reader, writer = await asyncio.open_connection('127.0.0.1', 8888)
//         print(f'Send: {message!r}')
//         writer.write(message.encode())
//         await writer.drain()
//         data = await reader.read(100)
//         print(f'Received: {data.decode()!r}')
//         print('Close the connection')
//         writer.close()
//         await writer.wait_closed()
//
//     asyncio.run(tcp_echo_client('Hello World!'))
//
// `echo_client --port 8888` talks to a running `echo_server --port 8888`. Run without
// arguments it brings its own server: an echo server on a free port (port 0) in a thread of its
// own with its own event loop (one loop per thread), which the main thread stops through
// call_soon_threadsafe once the client is done.
//
// Output (the port varies):
//     echo server on a thread of its own, at 127.0.0.1:40123
//     Send: 'Hello World!'
//     Received: 'Hello World!'
//     Close the connection
//     echo server thread stopped

#include <aio/aio.hpp>

#include <fmt/core.h>

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <future>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

namespace {

aio::Task<> tcp_echo_client(std::string message, std::uint16_t port) {
    auto [reader, writer] = co_await aio::open_connection("127.0.0.1", port);

    fmt::print("Send: '{}'\n", message);
    writer.write(message);
    co_await writer.drain();

    std::string data = co_await reader.read(100);
    fmt::print("Received: '{}'\n", data);

    fmt::print("Close the connection\n");
    writer.close();
    co_await writer.wait_closed();
}

// --- the server the demo brings along (echo_server.cpp's handler, without its prints) -------

aio::Task<> handle_echo(aio::StreamReader reader, aio::StreamWriter writer) {
    std::string data = co_await reader.read(100);
    writer.write(data);
    co_await writer.drain();
    writer.close();
    co_await writer.wait_closed();
}

// What the server thread tells the main thread once it listens.
struct Listening {
    aio::EventLoop* loop;
    aio::Server* server;
    std::uint16_t port;
};

aio::Task<> background_server(std::promise<Listening>& listening) {
    aio::Server server = co_await aio::start_server(handle_echo, "127.0.0.1", 0);
    // `server` lives in this frame until serve_forever() returns, which only the main thread's
    // close() makes it do: the pointer stays valid for as long as it may be used.
    listening.set_value(Listening{&aio::get_running_loop(), &server, server.port()});
    co_await server.serve_forever();
    server.close_clients();
    co_await server.wait_closed();
}

void demo() {
    std::promise<Listening> listening;
    std::future<Listening> started = listening.get_future();
    std::thread server_thread([&listening] {
        try {
            aio::run(background_server(listening));
        } catch (...) {
            try { // could not listen: the main thread's get() rethrows it
                listening.set_exception(std::current_exception());
            } catch (const std::future_error&) { // failed later: the main thread is not waiting
                fmt::print(stderr, "echo server thread failed\n");
            }
        }
    });
    Listening server{};
    try {
        server = started.get();
    } catch (...) {
        server_thread.join();
        throw;
    }
    fmt::print("echo server on a thread of its own, at 127.0.0.1:{}\n", server.port);

    // The main thread's own loop. The server's loop is only reached through
    // call_soon_threadsafe, and the thread is stopped and joined even if the client fails.
    std::exception_ptr failure;
    try {
        aio::run(tcp_echo_client("Hello World!", server.port));
    } catch (...) {
        failure = std::current_exception();
    }
    server.loop->call_soon_threadsafe([s = server.server] { s->close(); });
    server_thread.join();
    fmt::print("echo server thread stopped\n");
    if (failure)
        std::rethrow_exception(failure);
}

} // namespace

int main(int argc, char** argv) {
    if (argc == 1) {
        demo();
        return 0;
    }
    const unsigned long port = argc == 3 ? std::strtoul(argv[2], nullptr, 10) : 0;
    if (argc != 3 || std::string_view(argv[1]) != "--port" || port == 0 || port > 65535) {
        fmt::print(stderr, "usage: {} [--port N]\n", argv[0]);
        return 2;
    }
    try {
        aio::run(tcp_echo_client("Hello World!", static_cast<std::uint16_t>(port)));
    } catch (const std::system_error& e) { // connect(127.0.0.1:8888): Connection refused
        fmt::print(stderr, "{}\n", e.what());
        return 1;
    }
}
