// echo_aio_server.cpp — the echo server of the echo benchmark in aio: streams, as asyncio's
// echo server is written (asyncio.start_server with a StreamReader/StreamWriter handler).
//
//   echo_aio_server --port P        (P = 0: the kernel picks a free port)
//
// Listens on 127.0.0.1 only, prints one line `port=<N>` (flushed) once listening, then serves
// until it is killed: SIGTERM ends the process (default disposition); SIGINT cancels the main
// task through aio::run, which then cancels the connections and exits.
// Each connection:
//     std::string data = co_await reader.read(65536);   // up to 64 KiB, empty at EOF
//     writer.write(std::move(data));
//     co_await writer.drain();
// until EOF, then close. Built by the `bench` preset (bench/echo/CMakeLists.txt).
#include <aio/aio.hpp>

#include <fmt/core.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <system_error>

namespace {

aio::Task<> handle(aio::StreamReader reader, aio::StreamWriter writer) {
    try {
        for (;;) {
            std::string data = co_await reader.read(65536);
            if (data.empty()) break; // EOF
            writer.write(std::move(data)); // a chunk the kernel does not take at once is kept, not copied
            co_await writer.drain();
        }
    } catch (const std::system_error&) {
        // The peer reset the connection (ECONNRESET, EPIPE): nothing left to echo. Like the
        // Python server's `except ConnectionError`. Cancellation is not a std::exception and
        // passes through.
    }
    writer.close();
    try {
        co_await writer.wait_closed();
    } catch (const std::system_error&) {
    }
}

aio::Task<> main_task(std::uint16_t port) {
    aio::Server server = co_await aio::start_server(handle, "127.0.0.1", port);
    fmt::print("port={}\n", server.port());
    std::fflush(stdout);
    co_await server.serve_forever();
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
        std::fprintf(stderr, "usage: echo_aio_server --port P   (0: any free port)\n");
        return 2;
    }
    try {
        aio::run(main_task(static_cast<std::uint16_t>(port)));
    } catch (const aio::CancelledError&) {
        return 0; // SIGINT (aio::run re-raises SIGINT after cleanup anyway)
    } catch (const std::exception& e) {
        std::fprintf(stderr, "echo_aio_server: %s\n", e.what());
        return 1;
    }
    return 0;
}
