// examples/mini_redis under clients nobody here wrote: Debian's redis-cli (a script, and
// pub/sub between two of them) and redis-py (tests/interop/redis_py_client.py), plus bad
// input from a raw connection. Each case starts its own server on a free port (port 0: the
// server prints the port it got), checks its fds, stops it with SIGTERM and checks that it
// exits 0. The children are started with aio::create_subprocess_exec. Skipped, with a
// message, where redis-cli / python3-redis are not installed (.ci/run installs them).
#include "catch.hpp"
#include "client_test_util.hpp"
#include "io_test_util.hpp"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#ifndef AIO_MINI_REDIS
#error "AIO_MINI_REDIS (the mini_redis program) is set by tests/CMakeLists.txt"
#endif
#ifndef AIO_REDIS_PY_CLIENT
#error "AIO_REDIS_PY_CLIENT (tests/interop/redis_py_client.py) is set by tests/CMakeLists.txt"
#endif

using namespace std::chrono_literals;
using aio_test::io::run_bounded;
using namespace aio_test::clients;

namespace {

aio::Task<ServerProcess> start_mini_redis(std::string maxclients = "10000") {
    const std::vector<std::string> argv{AIO_MINI_REDIS, "--port", "0", "--maxclients", maxclients};
    return start_server_process(argv, "mini_redis on 127.0.0.1:");
}

/// The next three lines redis-cli prints for a pub/sub event.
aio::Task<std::string> three_lines(aio::StreamReader output) {
    std::string lines;
    for (int i = 0; i < 3; ++i)
        lines += co_await aio::wait_for(output.readline(), 10s);
    co_return lines;
}

} // namespace

TEST_CASE("mini_redis: redis-cli runs a script and gets what redis-server 7 answers",
          "[mini_redis][clients]") {
    const std::string redis_cli = find_program("redis-cli");
    if (redis_cli.empty())
        AIO_SKIP("redis-cli is not installed (Debian: apt-get install redis-tools)");
    // What redis-server 7.0 prints for the same script (checked against it).
    const std::string script = "PING\nSET greeting hello\nGET greeting\nGET nothing\n"
                               "SET counter 10\nINCR counter\nINCRBY counter 5\nDECR counter\n"
                               "MSET a 1 b 2\nMGET a b c\nEXISTS a b c\nDEL a b\n"
                               "SET temp x EX 100\nTTL temp\nPERSIST temp\nTTL temp\n"
                               "KEYS gree*\nDBSIZE\nFOO bar\nGET\nFLUSHDB\nDBSIZE\n";
    const std::string expected =
        "PONG\nOK\nhello\n\nOK\n11\n16\n15\nOK\n1\n2\n\n2\n2\nOK\n100\n1\n-1\ngreeting\n3\n"
        "ERR unknown command 'FOO', with args beginning with: 'bar' \n\n" // an error, then a blank
                                                                          // line
        "ERR wrong number of arguments for 'get' command\n\nOK\n0\n";
    aio::EventLoop loop;
    auto body = [&]() -> aio::Task<std::vector<std::string>> {
        ServerProcess server = co_await start_mini_redis();
        const int fds = fds_of(server.process.pid());
        std::vector<std::string> log;
        const std::vector<std::string> argv{redis_cli, "-p", server.port};
        log.push_back(co_await run_client(argv, script));
        log.push_back(co_await fds_back(server.process.pid(), fds));
        log.push_back(co_await stop_server_process(server));
        co_return log;
    };
    REQUIRE(run_bounded(loop, body(), 60s) ==
            std::vector<std::string>{expected, "fds back", "server stopped\nexit 0"});
}

TEST_CASE("mini_redis: pub/sub between two redis-cli clients", "[mini_redis][clients]") {
    const std::string redis_cli = find_program("redis-cli");
    if (redis_cli.empty())
        AIO_SKIP("redis-cli is not installed (Debian: apt-get install redis-tools)");
    aio::EventLoop loop;
    auto body = [&]() -> aio::Task<std::vector<std::string>> {
        ServerProcess server = co_await start_mini_redis();
        std::vector<std::string> log;
        const std::vector<std::string> subscribe{redis_cli, "-p", server.port, "SUBSCRIBE", "news"};
        aio::Process subscriber = co_await aio::create_subprocess_exec(
            subscribe, aio::ProcessOptions{.stdout_ = aio::PIPE});
        log.push_back(co_await three_lines(*subscriber.stdout_)); // subscribe / news / 1
        const std::vector<std::string> publish{redis_cli, "-p",   server.port,
                                               "PUBLISH", "news", "hello"};
        log.push_back(co_await run_client(publish));
        log.push_back(co_await three_lines(*subscriber.stdout_)); // message / news / hello
        const std::vector<std::string> nobody{redis_cli, "-p",    server.port,
                                              "PUBLISH", "other", "x"};
        log.push_back(co_await run_client(nobody));
        subscriber.terminate();
        log.push_back(std::to_string(co_await subscriber.wait()));
        log.push_back(co_await stop_server_process(server));
        co_return log;
    };
    REQUIRE(run_bounded(loop, body(), 60s) ==
            std::vector<std::string>{"subscribe\nnews\n1\n", "1\n", "message\nnews\nhello\n", "0\n",
                                     "-15", "server stopped\nexit 0"});
}

TEST_CASE("mini_redis: redis-py runs every command, a 2000-command pipeline and pub/sub",
          "[mini_redis][clients]") {
    const std::string python = find_python();
    if (python.empty() || ::system((python + " -c 'import redis' 2>/dev/null").c_str()) != 0)
        AIO_SKIP("python3-redis is not installed (Debian: apt-get install python3-redis)");
    aio::EventLoop loop;
    auto body = [&]() -> aio::Task<std::vector<std::string>> {
        ServerProcess server = co_await start_mini_redis();
        const std::vector<std::string> argv{python, AIO_REDIS_PY_CLIENT, server.port};
        co_return co_await run_client_then_stop(server, argv);
    };
    REQUIRE(run_bounded(loop, body(), 60s) ==
            std::vector<std::string>{"ok\n", "fds back", "server stopped\nexit 0"});
}

TEST_CASE("mini_redis: bad input gets -ERR Protocol error and a closed connection, the server "
          "goes on, and the client limit holds",
          "[mini_redis]") {
    aio::EventLoop loop;
    auto body = [&]() -> aio::Task<std::vector<std::string>> {
        ServerProcess server = co_await start_mini_redis("3");
        const int port = std::stoi(server.port);
        const int fds = fds_of(server.process.pid());
        std::vector<std::string> log;
        // Each of these gets one error and end of file.
        const std::vector<std::string> attacks{
            "*1\r\n$1073741824\r\n",        // a 1 GiB argument
            "*2\r\n$3\r\nGET\r\n:1\r\n",    // not a bulk string
            "*-5x\r\n",                     // garbage count
            std::string(100 << 20, '\x01'), // 100 MiB of garbage, no line end
        };
        for (const std::string& attack : attacks) {
            auto [reader, writer] = co_await aio::open_connection("127.0.0.1", port);
            writer.write(attack);
            std::string reply = co_await aio::wait_for(reader.readline(), 10s);
            // Then end of file — or a reset, when the server's lingering close ended before
            // it had read all of the attack (a loaded machine): closed either way.
            std::string more;
            try {
                more = co_await aio::wait_for(reader.read(), 10s);
            } catch (const std::system_error& e) {
                if (e.code().value() != ECONNRESET)
                    throw;
            }
            log.push_back(reply + (more.empty() ? "(closed)" : "(more)"));
            writer.abort();
        }
        // Three clients are allowed; the fourth is turned away.
        std::vector<aio::Connection> clients;
        for (int i = 0; i < 3; ++i) {
            clients.push_back(co_await aio::open_connection("127.0.0.1", port));
            clients.back().writer.write("PING\r\n");
            log.push_back(co_await aio::wait_for(clients.back().reader.readline(), 10s));
        }
        auto [reader, writer] = co_await aio::open_connection("127.0.0.1", port);
        log.push_back(co_await aio::wait_for(reader.readline(), 10s));
        writer.close();
        clients.clear();
        log.push_back(co_await fds_back(server.process.pid(), fds));
        log.push_back(co_await stop_server_process(server));
        co_return log;
    };
    REQUIRE(run_bounded(loop, body(), 60s) ==
            std::vector<std::string>{"-ERR Protocol error: invalid bulk length\r\n(closed)",
                                     "-ERR Protocol error: expected '$'\r\n(closed)",
                                     "-ERR Protocol error: invalid multibulk length\r\n(closed)",
                                     "-ERR Protocol error: too big inline request\r\n(closed)",
                                     "+PONG\r\n", "+PONG\r\n", "+PONG\r\n",
                                     "-ERR max number of clients reached\r\n", "fds back",
                                     "server stopped\nexit 0"});
}
