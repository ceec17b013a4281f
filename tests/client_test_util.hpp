// Helpers of the tests that run the example servers under real clients (test_mini_redis.cpp,
// test_http_server.cpp): finding a client program, counting a server's fds, running a client
// to completion.
#pragma once

#include <aio/aio.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <dirent.h>
#include <stdexcept>
#include <stdlib.h>
#include <string>
#include <vector>

namespace aio_test::clients {

using namespace std::chrono_literals;

inline bool is_executable(const std::string& path) {
    return ::access(path.c_str(), X_OK) == 0;
}

/// `program` found in PATH (or /usr/bin), "" when it is not installed.
inline std::string find_program(const std::string& program) {
    const char* path = ::getenv("PATH");
    std::string dirs = std::string(path ? path : "") + ":/usr/bin";
    std::size_t begin = 0;
    while (begin <= dirs.size()) {
        const std::size_t end = std::min(dirs.find(':', begin), dirs.size());
        const std::string candidate = dirs.substr(begin, end - begin) + "/" + program;
        if (end > begin && is_executable(candidate))
            return candidate;
        begin = end + 1;
    }
    return "";
}

/// Fds the process `pid` has open.
inline int fds_of(int pid) {
    int n = 0;
    if (DIR* dir = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
        while (const dirent* entry = ::readdir(dir))
            n += entry->d_name[0] != '.';
        ::closedir(dir);
    }
    return n;
}

/// Whether the server's fds come back to `baseline` (it closes a connection when it sees the
/// client's end of file, a moment after the client is gone): polled for up to 5 s.
inline aio::Task<std::string> fds_back(int pid, int baseline) {
    for (int i = 0; i < 500 && fds_of(pid) != baseline; ++i)
        co_await aio::sleep(10ms);
    co_return fds_of(pid) == baseline ? "fds back" : "fds leaked";
}

/// Runs a client program to completion with `input` on its stdin; its stdout and stderr.
inline aio::Task<std::string> run_client(std::vector<std::string> argv, std::string input = {}) {
    aio::Process p = co_await aio::create_subprocess_exec(
        argv,
        aio::ProcessOptions{.stdin_ = aio::PIPE, .stdout_ = aio::PIPE, .stderr_ = aio::STDOUT});
    auto [out, err] = co_await aio::wait_for(p.communicate(std::move(input)), 30s);
    const int code = co_await p.wait();
    co_return out + (code == 0 ? "" : "[exit " + std::to_string(code) + "]");
}

/// An example server running as a child, on the port it printed.
struct ServerProcess {
    aio::Process process;
    std::string port;
    std::string banner; // its first line: "<name> on 127.0.0.1:<port>..."
};

/// Starts `argv` (a server given "--port 0" that prints "<banner_prefix><port>" first).
inline aio::Task<ServerProcess> start_server_process(std::vector<std::string> argv,
                                                     std::string banner_prefix) {
    aio::Process p =
        co_await aio::create_subprocess_exec(argv, aio::ProcessOptions{.stdout_ = aio::PIPE});
    std::string banner = co_await aio::wait_for(p.stdout_->readline(), 10s);
    if (banner.rfind(banner_prefix, 0) != 0)
        throw std::runtime_error("the server printed \"" + banner + "\", not its port");
    const std::size_t digits = banner.find_first_not_of("0123456789", banner_prefix.size());
    std::string port = banner.substr(banner_prefix.size(), digits - banner_prefix.size());
    co_return ServerProcess{std::move(p), std::move(port), std::move(banner)};
}

/// SIGTERM, then what the server printed last and its exit status.
inline aio::Task<std::string> stop_server_process(ServerProcess& server) {
    server.process.terminate();
    std::string rest = co_await aio::wait_for(server.process.stdout_->read(), 10s);
    const int code = co_await aio::wait_for(server.process.wait(), 10s);
    co_return rest + "exit " + std::to_string(code);
}

/// Runs a client program against the server to completion, waits for the server's fds to
/// come back, stops it: {the client's output, "fds back", "<last words>exit 0"}.
inline aio::Task<std::vector<std::string>> run_client_then_stop(ServerProcess& server,
                                                                std::vector<std::string> argv) {
    const int fds = fds_of(server.process.pid());
    std::vector<std::string> log;
    log.push_back(co_await run_client(std::move(argv)));
    log.push_back(co_await fds_back(server.process.pid(), fds));
    log.push_back(co_await stop_server_process(server));
    co_return log;
}

/// Python 3 from Debian (/usr/bin/python3, whose packages the tests import), else from PATH.
inline std::string find_python() {
    return is_executable("/usr/bin/python3") ? "/usr/bin/python3" : find_program("python3");
}

} // namespace aio_test::clients
