// Interop with an independent implementation: aio's streams and servers against CPython's
// asyncio, run as a child process (tests/interop/asyncio_peer.py). An aio echo server with an
// asyncio client, and an aio client with an asyncio echo server, each in a line mode (1000
// lines of every byte but "\n", 0 to 60000 bytes long, read with readline on both sides) and a
// blob mode (10 MiB of random bytes, read to end of file), sending while reading, then
// half-closing. The echo is compared byte for byte by the side that sent it; what the echo
// side received is compared by length and CRC-32 (zlib's, which Python reports).
//
// Skipped with a message when there is no python3 (/usr/bin/python3 or python3 on PATH; the
// AIO_TEST_PYTHON environment variable names another interpreter). Bounded in time: a
// watchdog stops the loop, every wait on the child has a deadline, the script has its own; the
// child is killed and reaped whatever happens (no zombie), and fds are back to the baseline.
#include "catch.hpp"
#include "stream_test_util.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <spawn.h>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

extern char** environ;

using namespace std::chrono_literals;
using aio_test::io::run_bounded;

namespace {

/// asyncio_peer.py: where tests/CMakeLists.txt says (AIO_INTEROP_PEER), or, built by hand,
/// beside this file.
std::string interop_peer_path() {
#ifdef AIO_INTEROP_PEER
    return AIO_INTEROP_PEER;
#else
    const std::string here = __FILE__;
    return here.substr(0, here.find_last_of('/') + 1) + "interop/asyncio_peer.py";
#endif
}

bool is_executable(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
           ::access(path.c_str(), X_OK) == 0;
}

/// The interpreter to run: $AIO_TEST_PYTHON, else /usr/bin/python3, else python3 on PATH;
/// "" when there is none.
std::string find_python() {
    if (const char* chosen = std::getenv("AIO_TEST_PYTHON"))
        return is_executable(chosen) ? chosen : "";
    if (is_executable("/usr/bin/python3"))
        return "/usr/bin/python3";
    const char* path = std::getenv("PATH");
    std::string_view dirs = path ? path : "";
    while (!dirs.empty()) {
        const std::size_t colon = dirs.find(':');
        const std::string candidate = std::string(dirs.substr(0, colon)) + "/python3";
        if (is_executable(candidate))
            return candidate;
        dirs = colon == std::string_view::npos ? std::string_view() : dirs.substr(colon + 1);
    }
    return "";
}

constexpr const char* no_python =
    "no python3 found (/usr/bin/python3, python3 on PATH, or $AIO_TEST_PYTHON): the interop "
    "tests run CPython's asyncio as the other side; install python3 to run them";

/// zlib's CRC-32 (what Python's zlib.crc32 computes), fed piece by piece.
class Crc32 {
public:
    void update(std::string_view data) {
        static const std::array<std::uint32_t, 256> table = [] {
            std::array<std::uint32_t, 256> t{};
            for (std::uint32_t i = 0; i < 256; ++i) {
                std::uint32_t c = i;
                for (int k = 0; k < 8; ++k)
                    c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                t[i] = c;
            }
            return t;
        }();
        for (const char ch : data)
            crc_ = table[(crc_ ^ static_cast<unsigned char>(ch)) & 0xFF] ^ (crc_ >> 8);
    }
    std::uint32_t value() const { return crc_ ^ 0xFFFFFFFFu; }

private:
    std::uint32_t crc_ = 0xFFFFFFFFu;
};

/// Bytes seen, their count and CRC.
struct Tally {
    std::size_t bytes = 0;
    Crc32 crc;
    void add(std::string_view data) {
        bytes += data.size();
        crc.update(data);
    }
};

/// A child process. Going out of scope while it runs kills it (SIGKILL) and reaps it, so a
/// failing test leaves neither a process nor a zombie behind.
class ChildProcess {
public:
    ChildProcess() = default;
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;
    ~ChildProcess() { kill_and_reap(); }

    /// Starts `argv` with `stdout_fd` as its stdout and /dev/null as its stdin; its stderr is
    /// the test's, so that a Python traceback shows in the test's output.
    void spawn(const std::vector<std::string>& argv, int stdout_fd) {
        std::vector<char*> args;
        for (const std::string& arg : argv)
            args.push_back(const_cast<char*>(arg.c_str()));
        args.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        ::posix_spawn_file_actions_init(&actions);
        ::posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDOUT_FILENO);
        ::posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        const int rc = ::posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
        ::posix_spawn_file_actions_destroy(&actions);
        if (rc != 0) {
            pid_ = -1;
            throw std::system_error(rc, std::system_category(), "posix_spawn " + argv[0]);
        }
        spawned_ = pid_;
    }

    /// The pid it had (still known after it was reaped).
    pid_t pid() const { return spawned_; }

    /// Its wait status once it has exited (polled every 5 ms); after `limit` it is killed and
    /// this throws.
    aio::Task<int> wait(std::chrono::milliseconds limit) {
        if (pid_ <= 0) // waitpid(-1) would wait for any child
            throw std::logic_error("ChildProcess::wait: no child running");
        aio::EventLoop& loop = aio::get_running_loop();
        const aio::Clock::time_point deadline = loop.time() + limit;
        for (;;) {
            int status = 0;
            const pid_t done = ::waitpid(pid_, &status, WNOHANG);
            if (done == pid_) {
                pid_ = -1;
                co_return status;
            }
            if (done < 0 && errno != EINTR)
                throw std::system_error(errno, std::system_category(), "waitpid");
            if (loop.time() >= deadline) {
                kill_and_reap();
                throw std::runtime_error("the child did not exit within " +
                                         std::to_string(limit.count()) + " ms: killed");
            }
            co_await aio::sleep(5ms);
        }
    }

private:
    void kill_and_reap() noexcept {
        if (pid_ <= 0)
            return;
        ::kill(pid_, SIGKILL);
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        pid_ = -1;
    }

    pid_t pid_ = -1;
    pid_t spawned_ = -1;
};

/// True once `pid` is neither running nor a zombie of ours.
bool reaped(pid_t pid) {
    return pid > 0 && ::waitpid(pid, nullptr, WNOHANG) == -1 && errno == ECHILD;
}

std::string describe_status(int status) {
    if (WIFEXITED(status))
        return "exit " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return "killed by signal " + std::to_string(WTERMSIG(status));
    return "status " + std::to_string(status);
}

/// Starts the asyncio peer with `args` and gives its stdout as a stream (a socket pair: the
/// child's end blocking, as a program expects its stdout to be).
aio::Task<aio::StreamReader> start_peer(ChildProcess& child, std::string python,
                                        std::vector<std::string> args) {
    const std::string peer = interop_peer_path();
    if (::access(peer.c_str(), R_OK) != 0)
        throw std::runtime_error("the asyncio side of the test is missing: " + peer);
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        throw std::system_error(errno, std::system_category(), "socketpair");
    aio::Socket ours(fds[0]);
    aio::Socket theirs(fds[1]);
    ::fcntl(ours.fd(), F_SETFL, ::fcntl(ours.fd(), F_GETFL) | O_NONBLOCK);
    std::vector<std::string> argv = {python, "-I", peer};
    argv.insert(argv.end(), args.begin(), args.end());
    child.spawn(argv, theirs.fd());
    theirs.close(); // the child's copy is all there is now: its exit is our end of file
    aio::Connection output = co_await aio::open_connection(std::move(ours));
    co_return output.reader;
}

// ------------------------------------------------------------- aio server, asyncio client

aio::Task<> echo_lines(Tally& received, aio::StreamReader reader, aio::StreamWriter writer) {
    for (;;) {
        std::string line = co_await reader.readline();
        if (line.empty())
            break; // end of file
        received.add(line);
        writer.write(line);
        co_await writer.drain();
    }
    writer.close();
    co_await writer.wait_closed();
}

aio::Task<> echo_blob(Tally& received, aio::StreamReader reader, aio::StreamWriter writer) {
    for (;;) {
        std::string data = co_await reader.read(65536);
        if (data.empty())
            break;
        received.add(data);
        writer.write(std::move(data));
        co_await writer.drain();
    }
    writer.close();
    co_await writer.wait_closed();
}

struct ServerOutcome {
    std::string report; // the client's stdout
    int status = -1;
    Tally received;
    std::size_t connections = 0;
};

aio::Task<ServerOutcome> aio_server_asyncio_client(ChildProcess& child, std::string python,
                                                   std::string mode) {
    ServerOutcome outcome;
    const bool lines = mode == "lines";
    auto handler = [&outcome, lines](aio::StreamReader reader, aio::StreamWriter writer) {
        ++outcome.connections;
        return lines ? echo_lines(outcome.received, std::move(reader), std::move(writer))
                     : echo_blob(outcome.received, std::move(reader), std::move(writer));
    };
    aio::Server server = co_await aio::start_server(handler, "127.0.0.1", 0);
    const std::vector<std::string> args = {"client", mode, std::to_string(server.port())};
    aio::StreamReader output = co_await start_peer(child, python, args);
    outcome.report = co_await aio::wait_for(output.read(), 60s); // to its end of file
    outcome.status = co_await child.wait(10s);
    server.close();
    server.close_clients();
    co_await aio::wait_for(server.wait_closed(), 10s);
    co_return outcome;
}

void check_aio_server(const std::string& mode) {
    const std::string python = find_python();
    if (python.empty())
        AIO_SKIP(no_python);
    const int fds_before = aio_test::open_fd_count();
    pid_t pid = -1;
    {
        ChildProcess child;
        aio::EventLoop loop;
        const ServerOutcome outcome =
            run_bounded(loop, aio_server_asyncio_client(child, python, mode), 90s);
        pid = child.pid();
        INFO("the asyncio client said: " << outcome.report);
        REQUIRE(describe_status(outcome.status) == "exit 0");
        REQUIRE(outcome.connections == 1);
        // What the client sent is what the server received (the client checked the echo).
        REQUIRE(outcome.report == "ok sent=" + std::to_string(outcome.received.bytes) + " crc=" +
                                      std::to_string(outcome.received.crc.value()) + "\n");
        // The client sent its whole data set (1000 lines, about 1.2 MB, or 10 MiB).
        REQUIRE(outcome.received.bytes >= (mode == "lines" ? 1'000'000u : 10u << 20));
    }
    REQUIRE(reaped(pid));
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

// ------------------------------------------------------------- aio client, asyncio server

/// asyncio_peer.py's line mode, from our own generator: 1000 lines of 0 to 60000 bytes of
/// anything but "\n" (whose places "\r" takes), each ending with "\n".
std::vector<std::string> make_lines() {
    std::mt19937_64 random(20261129);
    std::vector<std::string> lines;
    for (int i = 0; i < 1000; ++i) {
        const std::size_t length = i % 250 == 0   ? 0
                                   : i % 250 == 1 ? 60000
                                                  : static_cast<std::size_t>(random() % 2000);
        std::string line(length, '\0');
        for (char& c : line) {
            c = static_cast<char>(random() & 0xFF);
            if (c == '\n')
                c = '\r';
        }
        lines.push_back(line + "\n");
    }
    return lines;
}

std::string make_blob(std::size_t size) {
    std::mt19937_64 random(42);
    std::string blob(size, '\0');
    for (std::size_t i = 0; i < size; i += 8) {
        const std::uint64_t word = random();
        for (std::size_t k = 0; k < 8 && i + k < size; ++k)
            blob[i + k] = static_cast<char>((word >> (8 * k)) & 0xFF);
    }
    return blob;
}

aio::Task<> send_all(aio::StreamWriter writer, const std::vector<std::string>& chunks) {
    for (const std::string& chunk : chunks) {
        writer.write(chunk);
        co_await writer.drain();
    }
    writer.write_eof(); // the server echoes to its end of file, then closes
}

/// Reads the echo of `chunks` (readline per line, or to end of file for a blob); "" when it is
/// byte for byte what was sent, else where it first differs. Reads to the end of file either
/// way, so that the sender and the server are never left blocked on a reader that gave up.
aio::Task<std::string> check_echo(aio::StreamReader reader, const std::vector<std::string>& chunks,
                                  bool lines) {
    std::string error;
    if (lines) {
        for (std::size_t i = 0; i < chunks.size() && error.empty(); ++i) {
            const std::string got = co_await reader.readline();
            if (got != chunks[i])
                error = "line " + std::to_string(i) + ": sent " + std::to_string(chunks[i].size()) +
                        " bytes, got " + std::to_string(got.size()) + " back, not the same";
        }
        const std::string rest = co_await reader.read();
        if (error.empty() && !rest.empty())
            error = std::to_string(rest.size()) + " bytes after the last line";
        co_return error;
    }
    const std::string got = co_await reader.read();
    if (got != chunks.front())
        error = "sent " + std::to_string(chunks.front().size()) + " bytes, got " +
                std::to_string(got.size()) + " back, not the same";
    co_return error;
}

struct ClientOutcome {
    std::string port_line;  // the server's first line
    std::string echo_error; // "" when the echo was exact
    std::string report;     // the server's last line
    int status = -1;
    Tally sent;
};

aio::Task<ClientOutcome> aio_client_asyncio_server(ChildProcess& child, std::string python,
                                                   std::string mode) {
    ClientOutcome outcome;
    const bool lines = mode == "lines";
    const std::vector<std::string> args = {"server", mode};
    aio::StreamReader output = co_await start_peer(child, python, args);
    outcome.port_line = co_await aio::wait_for(output.readline(), 20s);
    const int port = std::atoi(outcome.port_line.c_str());
    if (port <= 0 || port > 65535)
        co_return outcome; // the checks say what came instead of a port

    std::vector<std::string> chunks;
    if (lines)
        chunks = make_lines();
    else
        chunks.push_back(make_blob(10 * 1024 * 1024));
    for (const std::string& chunk : chunks)
        outcome.sent.add(chunk);

    auto [reader, writer] =
        co_await aio::open_connection("127.0.0.1", static_cast<std::uint16_t>(port));
    // Sending while reading: the server echoes as it goes, and neither side's buffers could
    // hold all of it.
    auto [sent, echo_error] = co_await aio::wait_for(
        aio::gather(send_all(writer, chunks), check_echo(reader, chunks, lines)), 60s);
    outcome.echo_error = echo_error;
    writer.close();
    co_await aio::wait_for(writer.wait_closed(), 10s);

    outcome.report = co_await aio::wait_for(output.read(), 20s); // to its end of file
    outcome.status = co_await child.wait(10s);
    co_return outcome;
}

void check_aio_client(const std::string& mode) {
    const std::string python = find_python();
    if (python.empty())
        AIO_SKIP(no_python);
    const int fds_before = aio_test::open_fd_count();
    pid_t pid = -1;
    {
        ChildProcess child;
        aio::EventLoop loop;
        const ClientOutcome outcome =
            run_bounded(loop, aio_client_asyncio_server(child, python, mode), 90s);
        pid = child.pid();
        INFO("the asyncio server said: " << outcome.port_line << outcome.report);
        REQUIRE(std::atoi(outcome.port_line.c_str()) > 0);
        REQUIRE(outcome.echo_error == "");
        REQUIRE(describe_status(outcome.status) == "exit 0");
        // What the server received is what the client sent.
        REQUIRE(outcome.report == "ok received=" + std::to_string(outcome.sent.bytes) +
                                      " crc=" + std::to_string(outcome.sent.crc.value()) + "\n");
    }
    REQUIRE(reaped(pid));
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

} // namespace

TEST_CASE("interop: an aio line echo server and a CPython asyncio client, 1000 lines of 0 to "
          "60000 bytes, byte-exact both ways",
          "[interop]") {
    check_aio_server("lines");
}

TEST_CASE("interop: an aio echo server and a CPython asyncio client, 10 MiB of random bytes, "
          "byte-exact both ways",
          "[interop]") {
    check_aio_server("blob");
}

TEST_CASE("interop: an aio client and a CPython asyncio line echo server, 1000 lines of 0 to "
          "60000 bytes, byte-exact both ways",
          "[interop]") {
    check_aio_client("lines");
}

TEST_CASE("interop: an aio client and a CPython asyncio echo server, 10 MiB of random bytes, "
          "byte-exact both ways",
          "[interop]") {
    check_aio_client("blob");
}

TEST_CASE("interop: a child that never answers is killed at the deadline and reaped, and fds "
          "are back to the baseline",
          "[interop]") {
    const std::string python = find_python();
    if (python.empty())
        AIO_SKIP(no_python);
    const int fds_before = aio_test::open_fd_count();
    pid_t pid = -1;
    std::string outcome;
    {
        ChildProcess child;
        aio::EventLoop loop;
        auto body = [&]() -> aio::Task<std::string> {
            int fds[2];
            if (::pipe2(fds, O_CLOEXEC) != 0)
                throw std::system_error(errno, std::system_category(), "pipe2");
            child.spawn({python, "-I", "-c", "import time; time.sleep(3600)"}, fds[1]);
            ::close(fds[0]);
            ::close(fds[1]);
            co_return co_await aio_test::outcome_of(child.wait(200ms));
        };
        outcome = run_bounded(loop, body(), 20s);
        pid = child.pid();
    }
    REQUIRE(outcome == "error: the child did not exit within 200 ms: killed");
    REQUIRE(reaped(pid));
    REQUIRE(aio_test::open_fd_count() == fds_before);
}
