// unix_echo.cpp — a line echo server on a Unix-domain socket (asyncio's start_unix_server and
// open_unix_connection): the same streams as TCP, addressed by a path in the file system.
//
// The socket lives in a private directory made with mkdtemp, so nothing else can race for
// the name. server.close() removes the socket file; the program then removes the directory,
// also when something failed, and checks that nothing is left behind.
//
// Output (the directory's name varies):
//     listening on /tmp/aio-unix-echo-AbC123/echo.sock
//     server: a client connected
//     client: sent 'hello', got back 'hello'
//     client: sent 'over a Unix socket', got back 'over a Unix socket'
//     client: sent 'bye', got back 'bye'
//     server: the client left after 3 lines
//     socket file removed by server.close(): yes
//     directory removed: yes

#include <aio/aio.hpp>

#include <fmt/core.h>

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <exception>
#include <string>
#include <system_error>

namespace {

aio::Task<> echo_lines(aio::StreamReader reader, aio::StreamWriter writer) {
    fmt::print("server: a client connected\n");
    int lines = 0;
    for (;;) {
        std::string line = co_await reader.readline();
        if (line.empty())
            break; // end of file: the client closed its side
        ++lines;
        writer.write(line);
        co_await writer.drain();
    }
    fmt::print("server: the client left after {} lines\n", lines);
}

aio::Task<> client(std::string path) {
    auto [reader, writer] = co_await aio::open_unix_connection(path);
    const std::array<std::string, 3> messages = {"hello", "over a Unix socket", "bye"};
    for (const std::string& message : messages) {
        writer.write(message + "\n");
        std::string echoed = co_await reader.readline();
        echoed.pop_back(); // the "\n"
        fmt::print("client: sent '{}', got back '{}'\n", message, echoed);
    }
    writer.close();
    co_await writer.wait_closed();
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

aio::Task<> main_task(std::string path) {
    aio::Server server = co_await aio::start_unix_server(echo_lines, path);
    fmt::print("listening on {}\n", path);
    co_await client(path);
    server.close();
    co_await server.wait_closed(); // the handler has seen the end of file and returned
    fmt::print("socket file removed by server.close(): {}\n", exists(path) ? "no" : "yes");
}

} // namespace

int main() {
    std::string dir = "/tmp/aio-unix-echo-XXXXXX";
    if (::mkdtemp(dir.data()) == nullptr)
        throw std::system_error(errno, std::system_category(), "mkdtemp");
    const std::string path = dir + "/echo.sock";
    int status = 0;
    try {
        aio::run(main_task(path));
    } catch (const std::exception& e) {
        fmt::print(stderr, "failed: {}\n", e.what());
        status = 1;
    }
    ::unlink(path.c_str()); // in case the run failed before server.close()
    const bool removed = ::rmdir(dir.c_str()) == 0;
    fmt::print("directory removed: {}\n", removed ? "yes" : "no");
    return removed ? status : 1;
}
