// examples/http_server under clients nobody here wrote — curl (keep-alive, HEAD, bodies, an
// upload with "Expect: 100-continue") and Python's http.client (tests/interop/http_client.py) —
// plus a corpus of malformed requests from a raw connection, the idle timeout, a graceful
// SIGTERM with a request in flight, and --threads N sharing one port. Each case starts its own
// server on a free port (port 0: the server prints the port it got) over a fresh static
// directory, checks its fds, stops it with SIGTERM and checks that it exits 0. Skipped, with
// a message, where curl / python3 are not installed (.ci/run installs them).
#include "catch.hpp"
#include "client_test_util.hpp"
#include "io_test_util.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <stdlib.h>
#include <string>
#include <vector>

#ifndef AIO_HTTP_SERVER
#error "AIO_HTTP_SERVER (the http_server program) is set by tests/CMakeLists.txt"
#endif
#ifndef AIO_HTTP_PY_CLIENT
#error "AIO_HTTP_PY_CLIENT (tests/interop/http_client.py) is set by tests/CMakeLists.txt"
#endif

using namespace std::chrono_literals;
using aio_test::io::run_bounded;
using namespace aio_test::clients;

namespace {

/// A temporary directory: static/hello.txt, static/sub/, static/link-out.txt -> ../secret.txt,
/// and secret.txt beside static/ (what an escape would reach). Removed when dropped.
struct SiteFiles {
    std::string base;
    std::string root;

    SiteFiles() {
        char pattern[] = "/tmp/aio_http_test_XXXXXX";
        REQUIRE(::mkdtemp(pattern) != nullptr);
        base = pattern;
        root = base + "/static";
        REQUIRE(::mkdir(root.c_str(), 0700) == 0);
        REQUIRE(::mkdir((root + "/sub").c_str(), 0700) == 0);
        std::ofstream(root + "/hello.txt") << "hello from a file\n";
        std::ofstream(base + "/secret.txt") << "secret\n";
        REQUIRE(::symlink("../secret.txt", (root + "/link-out.txt").c_str()) == 0);
    }
    ~SiteFiles() {
        ::unlink((root + "/link-out.txt").c_str());
        ::unlink((root + "/hello.txt").c_str());
        ::rmdir((root + "/sub").c_str());
        ::rmdir(root.c_str());
        ::unlink((base + "/secret.txt").c_str());
        ::rmdir(base.c_str());
    }
};

aio::Task<ServerProcess> start_http_server(std::vector<std::string> args) {
    std::vector<std::string> argv{AIO_HTTP_SERVER, "--port", "0"};
    argv.insert(argv.end(), args.begin(), args.end());
    return start_server_process(argv, "http_server on 127.0.0.1:");
}

/// Everything the server sends on a connection until it closes it — with a FIN, or with a
/// reset, which a server may send after its response when it closes with input unread (10 s
/// bound by the callers).
aio::Task<std::string> until_closed(aio::StreamReader reader) {
    std::string all;
    try {
        for (;;) { // (not `while (co_await ...)`: g++ 12 miscompiles it)
            const std::size_t received = co_await reader.read_into(all, 64 * 1024);
            if (received == 0)
                break;
        }
    } catch (const std::system_error& e) {
        if (e.code().value() != ECONNRESET)
            throw;
    }
    co_return all;
}

aio::Task<std::string> exchange_until_closed(std::uint16_t port, std::string request) {
    auto [reader, writer] = co_await aio::open_connection("127.0.0.1", port);
    writer.write(std::move(request));
    std::string response = co_await aio::wait_for(until_closed(reader), 10s);
    writer.close();
    co_return response;
}

std::string status_line(const std::string& response) {
    return response.substr(0, response.find("\r\n"));
}

} // namespace

TEST_CASE("http_server: curl gets pages over one kept-alive connection, HEAD and bodies",
          "[http_server][clients]") {
    const std::string curl = find_program("curl");
    if (curl.empty())
        AIO_SKIP("curl is not installed (Debian: apt-get install curl)");
    SiteFiles files;
    const std::string upload = files.base + "/upload.bin";
    {
        std::ofstream out(upload, std::ios::binary);
        for (int i = 0; i < 300000; ++i)
            out.put(static_cast<char>(i * 7));
    }
    aio::EventLoop loop;
    auto body = [&]() -> aio::Task<std::vector<std::string>> {
        const std::vector<std::string> args{"--static", files.root};
        ServerProcess server = co_await start_http_server(args);
        const int fds = fds_of(server.process.pid());
        const std::string base = "http://127.0.0.1:" + server.port;
        const std::string format = "%{http_code} %{num_connects} %{size_download}\n";
        std::vector<std::string> log;
        // (Each argv is a named vector: g++ 12 miscompiles a braced list inside co_await.)
        // Three URLs in one curl: one connection (num_connects 1, then 0 and 0).
        const std::vector<std::string> three{
            curl, "-s", "-w", format, base + "/", base + "/static/hello.txt", base + "/nothing"};
        log.push_back(co_await run_client(three));
        const std::vector<std::string> head{curl, "-s", "-I", base + "/static/hello.txt"};
        log.push_back(co_await run_client(head));
        // A 300 kB upload, with "Expect: 100-continue" (curl waits for the 100), echoed back;
        // then the same upload chunked.
        const std::string echoed = files.base + "/echoed.bin";
        const std::vector<std::string> compare{"/usr/bin/cmp", upload, echoed};
        const std::vector<std::string> expect{
            curl,   "-s", "-H",   "Expect: 100-continue", "--data-binary", "@" + upload, "-o",
            echoed, "-w", format, base + "/echo"};
        log.push_back(co_await run_client(expect));
        log.push_back(co_await run_client(compare));
        const std::vector<std::string> chunked{curl,
                                               "-s",
                                               "-H",
                                               "Transfer-Encoding: chunked",
                                               "--data-binary",
                                               "@" + upload,
                                               "-o",
                                               echoed,
                                               "-w",
                                               format,
                                               base + "/echo"};
        log.push_back(co_await run_client(chunked));
        log.push_back(co_await run_client(compare));
        // An escape attempt curl does not normalise away, and a 405.
        const std::vector<std::string> escape{curl, "-s",   "--path-as-is",
                                              "-w", format, base + "/static/../secret.txt"};
        log.push_back(co_await run_client(escape));
        const std::vector<std::string> put{curl, "-s", "-X", "PUT", "-w", format, base + "/"};
        log.push_back(co_await run_client(put));
        log.push_back(co_await fds_back(server.process.pid(), fds));
        log.push_back(co_await stop_server_process(server));
        co_return log;
    };
    const std::vector<std::string> log = run_bounded(loop, body(), 60s);
    ::unlink(upload.c_str());
    ::unlink((files.base + "/echoed.bin").c_str());
    REQUIRE(log.size() == 10);
    CHECK(log[0] == "Hello, world!\n200 1 14\nhello from a file\n200 0 18\nnot found\n404 0 10\n");
    CHECK(log[1].rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(log[1].find("Content-Length: 18\r\n") != std::string::npos);
    CHECK(log[1].find("Content-Type: text/plain; charset=utf-8\r\n") != std::string::npos);
    CHECK(log[2] == "200 1 300000\n");
    CHECK(log[3] == "");
    CHECK(log[4] == "200 1 300000\n");
    CHECK(log[5] == "");
    CHECK(log[6] == "not found\n404 1 10\n");
    CHECK(log[7] == "405 1 0\n");
    CHECK(log[8] == "fds back");
    CHECK(log[9] == "server stopped\nexit 0");
}

TEST_CASE("http_server: Python's http.client over one connection: GET, HEAD, static files, "
          "bodies, 404s for every escape, 405",
          "[http_server][clients]") {
    const std::string python = find_python();
    if (python.empty())
        AIO_SKIP("python3 is not installed (Debian: apt-get install python3)");
    SiteFiles files;
    aio::EventLoop loop;
    auto body = [&]() -> aio::Task<std::vector<std::string>> {
        const std::vector<std::string> args{"--static", files.root};
        ServerProcess server = co_await start_http_server(args);
        const std::vector<std::string> argv{python, AIO_HTTP_PY_CLIENT, server.port};
        co_return co_await run_client_then_stop(server, argv);
    };
    REQUIRE(run_bounded(loop, body(), 60s) ==
            std::vector<std::string>{"ok\n", "fds back", "server stopped\nexit 0"});
}

TEST_CASE("http_server: each malformed request gets its status and a closed connection, "
          "and the server goes on",
          "[http_server]") {
    const std::string host = "Host: a\r\n";
    const std::vector<std::pair<std::string, std::string>> corpus{
        {"GET / HTTP/1.1\r\n\r\n", "400"},                               // no Host
        {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", "400"},                   // space before the colon
        {"GET / HTTP/1.1\n" + host + "\r\n", "400"},                     // bare LF
        {"\x16\x03\x01\x02\x01\x01\x01\x01\xfc\x03\x03\r\n\r\n", "400"}, // a TLS hello
        {"GET / HTTP/3.0\r\n" + host + "\r\n", "505"},
        {"POST /echo HTTP/1.1\r\n" + host +
             "Content-Length: 5\r\nTransfer-Encoding: chunked"
             "\r\n\r\n0\r\n\r\n",
         "400"}, // smuggling
        {"POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\nzz\r\n", "400"},
        {"POST /echo HTTP/1.1\r\n" + host + "Content-Length: 1073741824\r\n\r\n", "413"},
        {"POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n" + "100000\r\n" +
             std::string(1 << 20, 'x') + "\r\n1\r\n",
         "413"}, // 1 MiB + 1 chunked
        {"GET /" + std::string(10000, 'a') + " HTTP/1.1\r\n" + host + "\r\n", "414"},
        {"GET / HTTP/1.1\r\n" + host + "Cookie: " + std::string(10000, 'c') + "\r\n\r\n", "431"},
        {[&] {
             std::string many = "GET / HTTP/1.1\r\n" + host;
             for (int i = 0; i < 101; ++i)
                 many += "X-" + std::to_string(i) + ": 1\r\n";
             return many + "\r\n";
         }(),
         "431"},
        {std::string(100 << 20, '\x01'), "414"}, // 100 MiB of garbage
        {"POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip\r\n\r\n", "501"},
        {"GET /%zz HTTP/1.1\r\n" + host + "\r\n", "400"},
        {"GET /%00 HTTP/1.1\r\n" + host + "\r\n", "400"},
    };
    aio::EventLoop loop;
    auto body = [&]() -> aio::Task<std::vector<std::string>> {
        const std::vector<std::string> no_args;
        ServerProcess server = co_await start_http_server(no_args);
        const auto port = static_cast<std::uint16_t>(std::stoi(server.port));
        const int fds = fds_of(server.process.pid());
        std::vector<std::string> log;
        for (const auto& [request, status] : corpus) {
            const std::string response = co_await exchange_until_closed(port, request);
            // One response, with "Connection: close", then end of file.
            const bool one =
                response.find("Server: aio-http") == response.rfind("Server: aio-http") &&
                response.find("\r\nConnection: close\r\n") != std::string::npos;
            log.push_back(status_line(response).substr(9, 3) + (one ? "" : " (not one response)"));
        }
        // And the server still answers.
        const std::string close = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
        log.push_back(status_line(co_await exchange_until_closed(port, close)));
        log.push_back(co_await fds_back(server.process.pid(), fds));
        log.push_back(co_await stop_server_process(server));
        co_return log;
    };
    std::vector<std::string> expected;
    for (const auto& entry : corpus)
        expected.push_back(entry.second);
    expected.insert(expected.end(), {"HTTP/1.1 200 OK", "fds back", "server stopped\nexit 0"});
    REQUIRE(run_bounded(loop, body(), 60s) == expected);
}

TEST_CASE("http_server: pipelined requests are answered in order in one batch, HTTP/1.0 closes",
          "[http_server]") {
    aio::EventLoop loop;
    auto body = [&]() -> aio::Task<std::vector<std::string>> {
        const std::vector<std::string> no_args;
        ServerProcess server = co_await start_http_server(no_args);
        const auto port = static_cast<std::uint16_t>(std::stoi(server.port));
        std::vector<std::string> log;
        std::string pipeline;
        for (int i = 0; i < 100; ++i)
            pipeline += i % 2 ? "GET /nothing HTTP/1.1\r\nHost: a\r\n\r\n"
                              : "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n" +
                                    fmt::format("{:03}", i);
        pipeline += "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
        pipeline += "GET / HTTP/1.1\r\nHost: a\r\n\r\n"; // after close: never answered
        const std::string responses = co_await exchange_until_closed(port, pipeline);
        std::string statuses, bodies;
        for (std::size_t at = responses.find("HTTP/1.1 "); at != std::string::npos;
             at = responses.find("HTTP/1.1 ", at + 1)) {
            statuses += responses.substr(at + 9, 3) + " ";
            const std::size_t body_at = responses.find("\r\n\r\n", at) + 4;
            if (responses.compare(at + 9, 3, "200") == 0)
                bodies += responses.substr(body_at, 3);
        }
        log.push_back(statuses);
        log.push_back(bodies);
        const std::string http_1_0 = "GET / HTTP/1.0\r\n\r\n"; // closes after its response
        log.push_back(status_line(co_await exchange_until_closed(port, http_1_0)));
        log.push_back(co_await stop_server_process(server));
        co_return log;
    };
    std::string statuses, bodies;
    for (int i = 0; i < 100; ++i) {
        statuses += i % 2 ? "404 " : "200 ";
        if (i % 2 == 0)
            bodies += fmt::format("{:03}", i);
    }
    REQUIRE(run_bounded(loop, body(), 60s) ==
            std::vector<std::string>{statuses + "200 ", bodies + "Hel", "HTTP/1.1 200 OK",
                                     "server stopped\nexit 0"});
}

TEST_CASE("http_server: a silent connection is closed after the idle timeout, mid-request too",
          "[http_server]") {
    aio::EventLoop loop;
    auto body = [&]() -> aio::Task<std::vector<std::string>> {
        const std::vector<std::string> args{"--idle-timeout", "0.3"};
        ServerProcess server = co_await start_http_server(args);
        const auto port = static_cast<std::uint16_t>(std::stoi(server.port));
        const int fds = fds_of(server.process.pid());
        std::vector<std::string> log;
        auto [idle_reader, idle_writer] = co_await aio::open_connection("127.0.0.1", port);
        auto [slow_reader, slow_writer] = co_await aio::open_connection("127.0.0.1", port);
        slow_writer.write("GET / HTTP/1.1\r\nHo"); // and then nothing
        const auto start = std::chrono::steady_clock::now();
        log.push_back(co_await aio::wait_for(until_closed(idle_reader), 10s));
        log.push_back(co_await aio::wait_for(until_closed(slow_reader), 10s));
        const auto waited = std::chrono::steady_clock::now() - start;
        log.push_back(waited >= 250ms ? "not before the timeout" : "too early");
        idle_writer.close();
        slow_writer.close();
        log.push_back(co_await fds_back(server.process.pid(), fds));
        log.push_back(co_await stop_server_process(server));
        co_return log;
    };
    REQUIRE(run_bounded(loop, body(), 60s) ==
            std::vector<std::string>{"", "", "not before the timeout", "fds back",
                                     "server stopped\nexit 0"});
}

TEST_CASE("http_server: SIGTERM closes idle connections, lets a request in flight finish, "
          "then exits 0",
          "[http_server]") {
    aio::EventLoop loop;
    auto body = [&]() -> aio::Task<std::vector<std::string>> {
        const std::vector<std::string> no_args;
        ServerProcess server = co_await start_http_server(no_args);
        const auto port = static_cast<std::uint16_t>(std::stoi(server.port));
        std::vector<std::string> log;
        auto [idle_reader, idle_writer] = co_await aio::open_connection("127.0.0.1", port);
        idle_writer.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        const std::string hello = "Hello, world!\n";
        log.push_back(status_line(co_await aio::wait_for(idle_reader.readuntil(hello), 10s)));
        auto [busy_reader, busy_writer] = co_await aio::open_connection("127.0.0.1", port);
        busy_writer.write("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello");
        co_await aio::sleep(100ms); // the server has the first half
        server.process.terminate();
        log.push_back(co_await aio::wait_for(until_closed(idle_reader), 10s)); // closed at once
        busy_writer.write("world");
        const std::string response = co_await aio::wait_for(until_closed(busy_reader), 10s);
        log.push_back(status_line(response));
        log.push_back(response.find("\r\nConnection: close\r\n") != std::string::npos
                          ? "Connection: close"
                          : "kept alive");
        log.push_back(response.substr(response.size() - 10));
        std::string rest = co_await aio::wait_for(server.process.stdout_->read(), 10s);
        const int code = co_await aio::wait_for(server.process.wait(), 10s);
        log.push_back(rest + "exit " + std::to_string(code));
        idle_writer.close();
        busy_writer.close();
        co_return log;
    };
    REQUIRE(run_bounded(loop, body(), 60s) ==
            std::vector<std::string>{"HTTP/1.1 200 OK", "", "HTTP/1.1 200 OK", "Connection: close",
                                     "helloworld", "server stopped\nexit 0"});
}

TEST_CASE("http_server --threads 4: four loops share one port, each serves requests, one "
          "SIGTERM stops them all",
          "[http_server]") {
    aio::EventLoop loop;
    auto body = [&]() -> aio::Task<std::vector<std::string>> {
        const std::vector<std::string> args{"--threads", "4"};
        ServerProcess server = co_await start_http_server(args);
        const auto port = static_cast<std::uint16_t>(std::stoi(server.port));
        std::vector<std::string> log;
        log.push_back(server.banner.substr(server.banner.find('(')));
        const std::string which = "GET /thread HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
        std::set<std::string> threads;
        for (int i = 0; i < 200 && threads.size() < 4; ++i) {
            const std::string response = co_await exchange_until_closed(port, which);
            threads.insert(response.substr(response.find("\r\n\r\n") + 4));
        }
        for (const std::string& thread : threads)
            log.push_back(thread);
        log.push_back(co_await stop_server_process(server));
        co_return log;
    };
    REQUIRE(run_bounded(loop, body(), 60s) ==
            std::vector<std::string>{"(4 threads)\n", "thread 0 of 4\n", "thread 1 of 4\n",
                                     "thread 2 of 4\n", "thread 3 of 4\n",
                                     "server stopped\nexit 0"});
}

TEST_CASE("http_server: a port in use is an error message and exit status 1, not a hang",
          "[http_server]") {
    aio::EventLoop loop;
    auto body = [&]() -> aio::Task<std::vector<std::string>> {
        const std::vector<std::string> no_args;
        ServerProcess server = co_await start_http_server(no_args);
        std::vector<std::string> log;
        const std::vector<std::string> second{AIO_HTTP_SERVER, "--port", server.port, "--threads",
                                              "2"};
        log.push_back(co_await run_client(second));
        log.push_back(co_await stop_server_process(server));
        co_return log;
    };
    const std::vector<std::string> log = run_bounded(loop, body(), 60s);
    REQUIRE(log.size() == 2);
    CHECK(log[0].find("http_server: thread 0: bind(127.0.0.1:") == 0);
    CHECK(log[0].find("Address already in use\n[exit 1]") != std::string::npos);
    CHECK(log[1] == "server stopped\nexit 0");
}

namespace {

/// The process's resident memory, in KiB.
long rss_kib(int pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0)
            return std::stol(line.substr(6));
    return -1;
}

/// `size` bytes in `path`.
void write_file(const std::string& path, std::size_t size) {
    std::ofstream out(path, std::ios::binary);
    const std::string block(1 << 20, 'b');
    for (std::size_t done = 0; done < size; done += block.size())
        out.write(block.data(), static_cast<std::streamsize>(std::min(block.size(), size - done)));
}

} // namespace

TEST_CASE("http_server: clients that do not read cost neither memory nor fds: pipelined "
          "downloads are answered a batch at a time, the idle timeout drops the connection",
          "[http_server]") {
    SiteFiles files;
    const std::string big = files.root + "/big.bin";
    write_file(big, 1 << 20);
    aio::EventLoop loop;
    auto body = [&]() -> aio::Task<std::vector<std::string>> {
        const std::vector<std::string> args{"--static", files.root, "--idle-timeout", "0.5"};
        ServerProcess server = co_await start_http_server(args);
        const auto port = static_cast<std::uint16_t>(std::stoi(server.port));
        const int pid = server.process.pid();
        const int fds = fds_of(pid);
        const long rss_before = rss_kib(pid);
        std::vector<std::string> log;
        // 300 pipelined requests for a 1 MiB file, and never a read: 300 MiB if held at once.
        auto [reader, writer] = co_await aio::open_connection("127.0.0.1", port);
        std::string pipeline;
        for (int i = 0; i < 300; ++i)
            pipeline += "GET /static/big.bin HTTP/1.1\r\nHost: a\r\n\r\n";
        writer.write(pipeline);
        co_await aio::sleep(300ms);
        const long grown_mib = (rss_kib(pid) - rss_before) / 1024;
        log.push_back(grown_mib < 64 ? "bounded" : "grew " + std::to_string(grown_mib) + " MiB");
        // Still connected, still not reading: the idle timeout drops it (its fd goes).
        log.push_back(co_await fds_back(pid, fds));
        writer.abort();
        log.push_back(co_await stop_server_process(server));
        co_return log;
    };
    const std::vector<std::string> log = run_bounded(loop, body(), 60s);
    ::unlink(big.c_str());
    REQUIRE(log == std::vector<std::string>{"bounded", "fds back", "server stopped\nexit 0"});
}

TEST_CASE("http_server: SIGTERM during a download: a reading client gets all of it and the "
          "server exits at once, one that does not read is dropped after --grace",
          "[http_server]") {
    SiteFiles files;
    const std::string big = files.root + "/big.bin";
    write_file(big, 16 << 20);
    aio::EventLoop loop;
    auto body = [&](std::string grace, bool client_reads) -> aio::Task<std::vector<std::string>> {
        const std::vector<std::string> args{"--static", files.root, "--grace", grace};
        ServerProcess server = co_await start_http_server(args);
        const auto port = static_cast<std::uint16_t>(std::stoi(server.port));
        std::vector<std::string> log;
        auto [reader, writer] = co_await aio::open_connection("127.0.0.1", port);
        writer.write("GET /static/big.bin HTTP/1.1\r\nHost: a\r\n\r\n");
        const std::string blank_line = "\r\n\r\n";
        const std::string head = co_await aio::wait_for(reader.readuntil(blank_line), 10s);
        log.push_back(status_line(head));
        const auto start = std::chrono::steady_clock::now();
        server.process.terminate();
        if (client_reads) {
            const std::string rest = co_await aio::wait_for(until_closed(reader), 10s);
            log.push_back(rest.size() == (16u << 20) ? "all of it" : "cut");
        } else {
            co_await aio::sleep(200ms); // reading nothing
        }
        std::string last = co_await aio::wait_for(server.process.stdout_->read(), 10s);
        const int code = co_await aio::wait_for(server.process.wait(), 10s);
        log.push_back(last + "exit " + std::to_string(code));
        log.push_back(std::chrono::steady_clock::now() - start < 5s ? "in time" : "late");
        writer.abort();
        co_return log;
    };
    const std::string grace_long = "30", grace_short = "0.5";
    const std::vector<std::string> reading = run_bounded(loop, body(grace_long, true), 60s);
    const std::vector<std::string> not_reading = run_bounded(loop, body(grace_short, false), 60s);
    ::unlink(big.c_str());
    CHECK(reading == std::vector<std::string>{"HTTP/1.1 200 OK", "all of it",
                                              "server stopped\nexit 0", "in time"});
    CHECK(not_reading ==
          std::vector<std::string>{"HTTP/1.1 200 OK", "server stopped\nexit 0", "in time"});
}
