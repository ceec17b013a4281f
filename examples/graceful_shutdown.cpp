// graceful_shutdown.cpp — the shutdown every service needs: on SIGTERM (or Ctrl-C) stop
// accepting, let the requests in progress finish within a deadline, cut off the ones that do
// not, then exit.
//
// The protocol: a client sends a line with a number of milliseconds of "work"; the server
// does it and answers "done <ms>". A handler cancelled by the shutdown answers "shutting
// down" instead.
//
// `graceful_shutdown --port N [--deadline-ms M]` serves until SIGTERM / SIGINT
// (`kill -TERM <pid>`). Without arguments it is a self-contained demo: two clients ask for
// 300 ms and 5 s of work, the program sends itself SIGTERM, a third client is refused, the
// first request finishes, the second is cut off at the 1 s deadline.
//
// Output without arguments (the port varies):
//     serving on 127.0.0.1:40123 (SIGTERM or Ctrl-C stops it)
//     (demo) sending SIGTERM to this process
//     SIGTERM: not accepting any more; 2 connection(s) have 1000 ms to finish
//     (client C) connect failed: connect(127.0.0.1:40123): Connection refused
//     (client A) asked for 300 ms of work: done 300
//     deadline passed: cancelling 1 handler(s) still working
//     (client B) asked for 5000 ms of work: shutting down
//     server stopped

#include <aio/aio.hpp>

#include <fmt/core.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

using namespace std::chrono_literals;

namespace {

/// The handlers still running (busy or waiting for a request), so the shutdown can cancel the
/// ones still there at the deadline.
std::vector<aio::TaskRef> working;

aio::Task<> handle_client(aio::StreamReader reader, aio::StreamWriter writer) {
    working.push_back(aio::current_task());
    struct Done {
        aio::TaskRef self = aio::current_task();
        ~Done() { std::erase(working, self); }
    } done;
    for (;;) {
        const std::string line = co_await reader.readline();
        if (line.empty())
            break; // the client is finished
        const int ms = std::atoi(line.c_str());
        try {
            co_await aio::sleep(std::chrono::milliseconds(ms)); // the "work"
        } catch (const aio::CancelledError&) {
            writer.write("shutting down\n"); // still allowed: write() never suspends
            writer.close();
            throw;
        }
        writer.write(fmt::format("done {}\n", ms));
        co_await writer.drain();
    }
    writer.close();
}

aio::Task<> demo_clients(std::uint16_t port);
aio::Task<> no_demo(std::uint16_t) {
    co_return;
}

aio::Task<> serve(std::uint16_t port, std::chrono::milliseconds deadline, bool demo) {
    aio::Server server = co_await aio::start_server(handle_client, "127.0.0.1", port);
    fmt::print("serving on 127.0.0.1:{} (SIGTERM or Ctrl-C stops it)\n", server.port());
    aio::Task<> clients = aio::create_task((demo ? demo_clients : no_demo)(server.port()));

    const int signo = co_await aio::wait_signal(SIGTERM, SIGINT);
    server.close(); // no new connections; the open ones go on
    fmt::print("{}: not accepting any more; {} connection(s) have {} ms to finish\n",
               signo == SIGTERM ? "SIGTERM" : "SIGINT", server.connection_count(),
               deadline.count());
    bool finished = true;
    try {
        co_await aio::wait_for(server.wait_closed(), deadline);
    } catch (const aio::TimeoutError&) {
        finished = false;
    }
    if (!finished) {
        fmt::print("deadline passed: cancelling {} handler(s) still working\n", working.size());
        // Each handler, busy or idle in readline(), ends; its connection closes with it.
        for (aio::TaskRef task : std::vector<aio::TaskRef>(working))
            task.cancel();
        co_await server.wait_closed();
    }
    co_await clients;
    fmt::print("server stopped\n");
}

// --- the demo's clients ------------------------------------------------------------------

aio::Task<> client(std::string name, std::uint16_t port, int work_ms) {
    try {
        auto [reader, writer] = co_await aio::open_connection("127.0.0.1", port);
        writer.write(fmt::format("{}\n", work_ms));
        co_await writer.drain();
        std::string reply = co_await reader.readline();
        if (!reply.empty())
            reply.pop_back();
        fmt::print("({}) asked for {} ms of work: {}\n", name, work_ms,
                   reply.empty() ? "connection closed" : reply);
        writer.close();
        co_await writer.wait_closed();
    } catch (const std::system_error& e) {
        fmt::print("({}) connect failed: {}\n", name, e.what());
    }
}

aio::Task<> demo_clients(std::uint16_t port) {
    aio::Task<> a = aio::create_task(client("client A", port, 300));
    aio::Task<> b = aio::create_task(client("client B", port, 5000));
    co_await aio::sleep(100ms); // both requests are being worked on
    fmt::print("(demo) sending SIGTERM to this process\n");
    ::kill(::getpid(), SIGTERM);
    co_await aio::sleep(50ms);
    co_await client("client C", port, 10);
    co_await a;
    co_await b;
}

} // namespace

int main(int argc, char** argv) {
    if (argc == 1) {
        aio::run(serve(0, 1000ms, true));
        return 0;
    }
    const std::vector<std::string_view> args(argv + 1, argv + argc);
    unsigned long port = 0;
    unsigned long deadline_ms = 10000;
    bool ok = args.size() == 2 || args.size() == 4;
    for (std::size_t i = 0; ok && i + 1 < args.size(); i += 2) {
        const unsigned long value = std::strtoul(argv[i + 2], nullptr, 10);
        if (args[i] == "--port")
            port = value;
        else if (args[i] == "--deadline-ms")
            deadline_ms = value;
        else
            ok = false;
    }
    if (!ok || port == 0 || port > 65535) {
        fmt::print(stderr, "usage: {} [--port N [--deadline-ms M]]\n", argv[0]);
        return 2;
    }
    aio::run(
        serve(static_cast<std::uint16_t>(port), std::chrono::milliseconds(deadline_ms), false));
}
