// port_scan.cpp — many connections at once, with a limit and a timeout each: a TCP port
// scanner of 127.0.0.1.
//
// Every port is a task (aio::gather over a vector of them); an aio::Semaphore lets at most 4
// connect at a time, and aio::wait_for gives each connection attempt 300 ms. A port is
//   open      when the connection is accepted,
//   closed    when it is refused (the kernel answers the SYN with a reset),
//   filtered  when nothing answers in time (a firewall that drops packets looks like this).
//
// So that the output is the same on every machine, the program makes its own targets: three
// echo servers on free ports (open), sixteen sockets bound to free ports but not listening
// (closed: kept bound during the scan so that nothing else can take those ports), and one
// listening socket with a backlog of 0 whose only slot is taken by a connection nobody
// accepts, so that Linux drops the SYNs of any further connection (filtered).
//
// Output (the port numbers vary):
//     scanning 20 ports of 127.0.0.1: at most 4 connections at once, 300 ms timeout each
//     open: 3 ports: 35187, 41423, 46331
//     closed: 16 ports (connection refused)
//     filtered: 1 port (no answer within 300 ms): 38565
//     the open ports are exactly the servers' ports: yes
//     connection attempts at once: at most 4

#include <aio/aio.hpp>

#include <fmt/core.h>
#include <fmt/format.h>

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

enum class PortState { open, closed, filtered, error };

struct ScanResult {
    std::uint16_t port;
    PortState state;
};

struct Scanner {
    aio::Semaphore limit{4};
    std::chrono::milliseconds timeout = 300ms;
    int connecting = 0;
    int most_at_once = 0;

    aio::Task<ScanResult> scan(std::uint16_t port) {
        auto permit = co_await limit.scoped();
        most_at_once = std::max(most_at_once, ++connecting);
        PortState state = PortState::error;
        try {
            // A timeout cancels the connection attempt, which closes its socket.
            aio::Connection connection =
                co_await aio::wait_for(aio::open_connection("127.0.0.1", port), timeout);
            connection.writer.close();
            state = PortState::open;
        } catch (const aio::TimeoutError&) {
            state = PortState::filtered;
        } catch (const std::system_error& e) {
            state = e.code().value() == ECONNREFUSED ? PortState::closed : PortState::error;
        }
        --connecting;
        co_return ScanResult{port, state};
    }
};

aio::Task<> close_at_once(aio::StreamReader, aio::StreamWriter writer) {
    writer.close();
    co_return;
}

std::vector<std::uint16_t> ports_in(const std::vector<ScanResult>& results, PortState state) {
    std::vector<std::uint16_t> ports;
    for (const ScanResult& result : results)
        if (result.state == state)
            ports.push_back(result.port);
    return ports;
}

aio::Task<> main_task() {
    aio::EventLoop& loop = aio::get_running_loop();
    std::vector<std::uint16_t> targets;

    std::vector<aio::Server> servers;
    std::vector<std::uint16_t> server_ports;
    for (int i = 0; i < 3; ++i) {
        servers.push_back(co_await aio::start_server(close_at_once, "127.0.0.1", 0));
        server_ports.push_back(servers.back().port());
    }
    targets.insert(targets.end(), server_ports.begin(), server_ports.end());

    std::vector<aio::Socket> bound_only;
    for (int i = 0; i < 16; ++i) {
        aio::Socket socket = aio::Socket::tcp();
        socket.bind({"127.0.0.1", 0});
        targets.push_back(socket.sockname().port());
        bound_only.push_back(std::move(socket));
    }

    aio::Socket full = aio::Socket::tcp();
    full.bind({"127.0.0.1", 0});
    full.listen(0); // room for one connection waiting to be accepted
    aio::Socket never_accepted = aio::Socket::tcp();
    co_await loop.sock_connect(never_accepted, full.sockname());
    targets.push_back(full.sockname().port());

    std::sort(targets.begin(), targets.end()); // as a scanner walks a range
    Scanner scanner;
    fmt::print("scanning {} ports of 127.0.0.1: at most 4 connections at once, {} ms timeout "
               "each\n",
               targets.size(), scanner.timeout.count());
    std::vector<aio::Task<ScanResult>> scans;
    for (std::uint16_t port : targets)
        scans.push_back(scanner.scan(port));
    const std::vector<ScanResult> results = co_await aio::gather(std::move(scans));

    // gather keeps the order of the tasks: the results are sorted by port already.
    const std::vector<std::uint16_t> open = ports_in(results, PortState::open);
    const std::vector<std::uint16_t> closed = ports_in(results, PortState::closed);
    const std::vector<std::uint16_t> filtered = ports_in(results, PortState::filtered);
    const std::vector<std::uint16_t> failed = ports_in(results, PortState::error);
    fmt::print("open: {} ports: {}\n", open.size(), fmt::join(open, ", "));
    fmt::print("closed: {} ports (connection refused)\n", closed.size());
    fmt::print("filtered: {} port{} (no answer within {} ms): {}\n", filtered.size(),
               filtered.size() == 1 ? "" : "s", scanner.timeout.count(), fmt::join(filtered, ", "));
    if (!failed.empty())
        fmt::print("other errors: {}\n", fmt::join(failed, ", "));
    std::sort(server_ports.begin(), server_ports.end());
    fmt::print("the open ports are exactly the servers' ports: {}\n",
               open == server_ports ? "yes" : "no");
    fmt::print("connection attempts at once: at most {}\n", scanner.most_at_once);

    for (aio::Server& server : servers) {
        server.close();
        server.close_clients();
        co_await server.wait_closed();
    }
}

} // namespace

int main() {
    aio::run(main_task());
}
