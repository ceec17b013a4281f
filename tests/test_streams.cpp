// StreamReader / StreamWriter: reads, limits, cancel-safety, the write path (coalescing, water
// marks, drain), half-close, resets, EPIPE, and cancellation leaving nothing behind.
#include "catch.hpp"
#include "stream_test_util.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <limits>
#include <string>
#include <system_error>
#include <vector>

using namespace std::chrono_literals;
using aio_test::io::run_bounded;
using aio_test::streams::registrations;
using aio_test::streams::socket_pair;

TEST_CASE("streams: read(n), readline, readexactly, readuntil and at_eof over a socket pair",
          "[streams]") {
    const int fds_before = aio_test::open_fd_count();
    {
        aio::EventLoop loop;
        auto body = [&]() -> aio::Task<std::vector<std::string>> {
            auto [mine, theirs] = socket_pair();
            auto [reader, writer] = co_await aio::open_connection(std::move(mine));
            aio_test::streams::send_all_raw(theirs.fd(),
                                            "line one\nline two\nABCDEFGHIJ--end--tail");
            theirs.close(); // EOF after the bytes
            std::vector<std::string> got;
            got.push_back(co_await reader.readline());
            got.push_back(co_await reader.readline());
            got.push_back(co_await reader.readexactly(4));
            got.push_back(co_await reader.read(3));
            got.push_back(co_await reader.readuntil("--end--"));
            got.push_back(co_await reader.read());
            got.push_back(reader.at_eof() ? "at_eof" : "not at eof");
            got.push_back("[" + co_await reader.read() + "][" + co_await reader.readline() + "]");
            co_return got;
        };
        const auto got = run_bounded(loop, body());
        REQUIRE(got == std::vector<std::string>{"line one\n", "line two\n", "ABCD", "EFG",
                                                "HIJ--end--", "tail", "at_eof", "[][]"});
        REQUIRE(registrations(loop) == 1); // only the loop's own wake-up fd
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("streams: readexactly at EOF raises IncompleteReadError with partial() and "
          "expected(), and readuntil at EOF gives the rest in partial()",
          "[streams]") {
    const int fds_before = aio_test::open_fd_count();
    {
        aio::EventLoop loop;
        auto body = [&]() -> aio::Task<std::string> {
            auto [mine, theirs] = socket_pair();
            auto [reader, writer] = co_await aio::open_connection(std::move(mine));
            aio_test::streams::send_all_raw(theirs.fd(), "12345");
            theirs.close();
            std::string out;
            try {
                co_await reader.readexactly(10);
            } catch (const aio::IncompleteReadError& e) {
                out += "partial=" + e.partial() + " expected=" + std::to_string(e.expected()) +
                       " what=" + e.what();
            }
            out += reader.at_eof() ? " eof" : " not eof";
            co_return out;
        };
        const std::string out = run_bounded(loop, body());
        REQUIRE(out.starts_with("partial=12345 expected=10 what=5 bytes read on a total of 10"));
        REQUIRE(out.ends_with(" eof"));

        auto until = [&]() -> aio::Task<std::string> {
            auto [mine, theirs] = socket_pair();
            auto [reader, writer] = co_await aio::open_connection(std::move(mine));
            aio_test::streams::send_all_raw(theirs.fd(), "no separator here");
            theirs.close();
            try {
                co_await reader.readuntil("\r\n");
            } catch (const aio::IncompleteReadError& e) {
                co_return e.partial();
            }
            co_return "no exception";
        };
        REQUIRE(run_bounded(loop, until()) == "no separator here");
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("streams: a 10 MiB line raises LimitOverrunError at the limit, the data stays, the "
          "stream stays usable and the buffer never grew past the limit plus one read",
          "[streams]") {
    const int fds_before = aio_test::open_fd_count();
    {
        aio::EventLoop loop;
        auto body = [&]() -> aio::Task<std::string> {
            auto [mine, theirs] = socket_pair();
            aio::ConnectOptions options;
            options.limit = 1000;
            auto [reader, writer] = co_await aio::open_connection(std::move(mine), options);
            const std::string huge(10 << 20, 'x');
            // The peer writes the long line and a short one from a task of its own.
            auto peer = [](aio::Socket socket, std::string line) -> aio::Task<> {
                co_await aio::get_running_loop().sock_sendall(socket, line + "\nshort\n");
            };
            auto sending = aio::create_task(peer(std::move(theirs), huge));
            std::string out;
            std::size_t consumed = 0;
            try {
                co_await reader.readline();
            } catch (const aio::LimitOverrunError& e) {
                consumed = e.consumed();
                out += std::string("overrun: ") + e.what() + "|";
            }
            out += "buffered<=limit+read:" + std::to_string(reader.buffered() <= 1000 + 16 * 1024) +
                   "|";
            out += "consumed>limit:" + std::to_string(consumed > 1000) + "|";
            // Skip the long line in chunks, then the stream goes on.
            std::size_t skipped = 0;
            for (;;) {
                std::size_t skip = 0;
                try {
                    const std::string rest = co_await reader.readline();
                    skipped += rest.size();
                    break;
                } catch (const aio::LimitOverrunError& e) {
                    skip = e.consumed();
                }
                skipped += (co_await reader.read(static_cast<std::ptrdiff_t>(skip))).size();
            }
            out += "skipped:" + std::to_string(skipped) + "|";
            out += "next:" + co_await reader.readline();
            co_await sending;
            co_return out;
        };
        const std::string out = run_bounded(loop, body(), 60s);
        INFO(out);
        REQUIRE(
            out.find(
                "overrun: no separator \"\\n\" within the stream's limit of 1000 bytes; the data "
                "stays in the stream: read(e.consumed()) to skip it, or raise the limit") !=
            std::string::npos);
        REQUIRE(out.find("buffered<=limit+read:1|consumed>limit:1|") != std::string::npos);
        REQUIRE(out.find("skipped:" + std::to_string((10 << 20) + 1) + "|") != std::string::npos);
        REQUIRE(out.ends_with("next:short\n"));
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("streams: a cancelled read loses no byte: what arrived stays for the next read",
          "[streams]") {
    const int fds_before = aio_test::open_fd_count();
    {
        aio::EventLoop loop;
        auto body = [&]() -> aio::Task<std::string> {
            auto [mine, theirs] = socket_pair();
            auto [reader, writer] = co_await aio::open_connection(std::move(mine));
            std::string log;
            // readexactly(10) gets 6 bytes, then its wait is cancelled by a timeout.
            aio_test::streams::send_all_raw(theirs.fd(), "abcdef");
            try {
                co_await aio::wait_for(reader.readexactly(10), 50ms);
            } catch (const aio::TimeoutError&) {
                log += "timeout;";
            }
            log += "buffered=" + std::to_string(reader.buffered()) + ";";
            // readline and readuntil too.
            try {
                co_await aio::wait_for(reader.readline(), 20ms);
            } catch (const aio::TimeoutError&) {
                log += "timeout;";
            }
            try {
                co_await aio::wait_for(reader.readuntil("#"), 20ms);
            } catch (const aio::TimeoutError&) {
                log += "timeout;";
            }
            aio_test::streams::send_all_raw(theirs.fd(), "ghij\n");
            log += co_await reader.readline();
            co_return log;
        };
        REQUIRE(run_bounded(loop, body()) == "timeout;buffered=6;timeout;timeout;abcdefghij\n");
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("streams: a second concurrent read raises RuntimeError, as asyncio", "[streams]") {
    const int fds_before = aio_test::open_fd_count();
    {
        aio::EventLoop loop;
        auto body = [&]() -> aio::Task<std::string> {
            auto [mine, theirs] = socket_pair();
            auto [reader, writer] = co_await aio::open_connection(std::move(mine));
            auto first = aio::create_task(reader.read(10));
            co_await aio::sleep(0s);
            std::string out;
            try {
                co_await reader.read(10);
            } catch (const aio::RuntimeError& e) {
                out = e.what();
            }
            aio_test::streams::send_all_raw(theirs.fd(), "x");
            out += "|" + co_await first;
            co_return out;
        };
        REQUIRE(run_bounded(loop, body()) ==
                "read() called while another task is already waiting for incoming data on this "
                "stream; read a stream from one task at a time|x");
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("streams: the first write of a turn goes out at once, the later ones of the turn in "
          "one sendmsg at the end of the turn",
          "[streams]") {
    const int fds_before = aio_test::open_fd_count();
    {
        aio::EventLoop loop;
        auto body = [&]() -> aio::Task<std::vector<std::size_t>> {
            // SOCK_SEQPACKET keeps each sendmsg a record: the records show the syscalls.
            auto [mine, theirs] = socket_pair(SOCK_SEQPACKET);
            auto [reader, writer] = co_await aio::open_connection(std::move(mine));
            writer.write("first");
            std::vector<std::size_t> records;
            char buf[4096];
            const ssize_t n = ::recv(theirs.fd(), buf, sizeof buf, 0);
            records.push_back(static_cast<std::size_t>(n)); // sent before the task even yields
            for (int i = 0; i < 100; ++i)
                writer.write("0123456789");
            records.push_back(writer.transport_buffer_size());
            co_await writer.drain(); // the turn ends: one gathered sendmsg
            for (;;) {
                const ssize_t m = ::recv(theirs.fd(), buf, sizeof buf, MSG_DONTWAIT);
                if (m <= 0)
                    break;
                records.push_back(static_cast<std::size_t>(m));
            }
            records.push_back(writer.transport_buffer_size());
            co_return records;
        };
        REQUIRE(run_bounded(loop, body()) == std::vector<std::size_t>{5, 1000, 1000, 0});
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("streams: writelines sends its lines together", "[streams]") {
    const int fds_before = aio_test::open_fd_count();
    {
        aio::EventLoop loop;
        auto body = [&]() -> aio::Task<std::string> {
            auto [mine, theirs] = socket_pair(SOCK_SEQPACKET);
            auto [reader, writer] = co_await aio::open_connection(std::move(mine));
            writer.write("x"); // the turn's first write goes alone
            const std::vector<std::string> lines{"a\n", "bb\n", "ccc\n"};
            writer.writelines(lines);
            co_await writer.drain();
            char buf[64];
            std::string out;
            for (;;) {
                const ssize_t m = ::recv(theirs.fd(), buf, sizeof buf, MSG_DONTWAIT);
                if (m <= 0)
                    break;
                out += "[" + std::string(buf, static_cast<std::size_t>(m)) + "]";
            }
            co_return out;
        };
        REQUIRE(run_bounded(loop, body()) == "[x][a\nbb\nccc\n]");
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("streams: drain waits above the high-water mark until the queue is at the low one, and "
          "set_write_buffer_limits checks its arguments",
          "[streams]") {
    const int fds_before = aio_test::open_fd_count();
    {
        aio::EventLoop loop;
        auto body = [&]() -> aio::Task<std::string> {
            auto [mine, theirs] = socket_pair();
            auto [reader, writer] = co_await aio::open_connection(std::move(mine));
            std::string out;
            out += std::to_string(writer.get_write_buffer_limits().first) + "/" +
                   std::to_string(writer.get_write_buffer_limits().second) + ";";
            try {
                writer.set_write_buffer_limits(10, 20);
            } catch (const aio::ValueError& e) {
                out += std::string(e.what()) + ";";
            }
            writer.set_write_buffer_limits(100000, 1000);
            const std::string chunk(1 << 20, 'z'); // far more than the socket buffer takes
            writer.write(chunk);
            const std::size_t queued = writer.transport_buffer_size();
            out += "queued>high:" + std::to_string(queued > 100000) + ";";
            auto draining = aio::create_task(
                [](aio::StreamWriter w) -> aio::Task<> { co_await w.drain(); }(writer));
            co_await aio::sleep(10ms);
            out += "drain waits:" + std::to_string(!draining.done()) + ";";
            // The peer reads everything; drain returns once at most 1000 bytes are queued.
            std::size_t got = 0;
            std::string buf(1 << 16, '\0');
            while (got < chunk.size()) {
                const ssize_t n = ::recv(theirs.fd(), buf.data(), buf.size(), MSG_DONTWAIT);
                if (n > 0)
                    got += static_cast<std::size_t>(n);
                else
                    co_await aio::sleep(0s);
            }
            co_await draining;
            out += "left<=low:" + std::to_string(writer.transport_buffer_size() <= 1000) + ";";
            co_return out;
        };
        REQUIRE(run_bounded(loop, body()) ==
                "65536/16384;set_write_buffer_limits(high, low): low (20) must not exceed high "
                "(10);queued>high:1;drain waits:1;left<=low:1;");
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("streams: a writer feeding a slow reader 1 GiB never buffers more than the high-water "
          "mark plus one write",
          "[streams][slow]") {
    const int fds_before = aio_test::open_fd_count();
    {
        aio::EventLoop loop;
        auto body = [&]() -> aio::Task<std::string> {
            auto [mine, theirs] = socket_pair();
            aio::Connection a = co_await aio::open_connection(std::move(mine));
            aio::Connection b = co_await aio::open_connection(std::move(theirs));
            aio::StreamWriter& a_writer = a.writer; // a lambda below uses it (clang 14 cannot
            aio::StreamReader& b_reader = b.reader; // capture structured bindings)
            constexpr std::size_t total = std::size_t{1} << 30;
            const std::string chunk(256 * 1024, 'q');
            std::size_t max_buffered = 0;
            auto write_all = [&]() -> aio::Task<> {
                for (std::size_t sent = 0; sent < total; sent += chunk.size()) {
                    a_writer.write(chunk);
                    max_buffered = std::max(max_buffered, a_writer.transport_buffer_size());
                    co_await a_writer.drain();
                }
                a_writer.write_eof();
            };
            auto writing = aio::create_task(write_all());
            std::size_t received = 0;
            int reads = 0;
            for (;;) {
                const std::string got = co_await b_reader.read(256 * 1024);
                if (got.empty())
                    break;
                received += got.size();
                if (++reads < 50)
                    co_await aio::sleep(1ms); // slow at first: the writer must wait in drain
            }
            co_await writing;
            co_return "received=" + std::to_string(received) +
                " bounded=" + std::to_string(max_buffered <= 65536 + chunk.size());
        };
        REQUIRE(run_bounded(loop, body(), 120s) == "received=1073741824 bounded=1");
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("streams: write_eof half-closes both ways: each side still writes after reading EOF",
          "[streams]") {
    const int fds_before = aio_test::open_fd_count();
    {
        aio::EventLoop loop;
        auto body = [&]() -> aio::Task<std::string> {
            auto [mine, theirs] = socket_pair();
            auto [a_reader, a_writer] = co_await aio::open_connection(std::move(mine));
            auto [b_reader, b_writer] = co_await aio::open_connection(std::move(theirs));
            std::string out;
            REQUIRE(a_writer.can_write_eof());
            a_writer.write("request");
            a_writer.write_eof();
            out += co_await b_reader.read() + ";"; // to EOF
            out += "b at_eof:" + std::to_string(b_reader.at_eof()) + ";";
            b_writer.write("response");
            b_writer.write_eof();
            out += co_await a_reader.read() + ";";
            try {
                a_writer.write("more");
            } catch (const aio::RuntimeError& e) {
                out += e.what();
            }
            co_return out;
        };
        REQUIRE(run_bounded(loop, body()) ==
                "request;b at_eof:1;response;write() after write_eof(): "
                "the stream's write side is shut down");
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("streams: a peer reset mid-read raises ECONNRESET from the read, mid-write from drain, "
          "another connection is not disturbed",
          "[streams]") {
    const int fds_before = aio_test::open_fd_count();
    {
        aio::EventLoop loop;
        auto body = [&]() -> aio::Task<std::string> {
            aio::Server server =
                co_await aio::start_server(aio_test::streams::echo_bytes, "127.0.0.1", 0);
            std::string out;
            {
                // Mid-read: the raw peer sends a little and resets.
                const std::string partial = "partial";
                auto [reader, writer] =
                    co_await aio_test::streams::connection_reset_by_peer(partial);
                out += co_await reader.read(100) + ";";
                try {
                    co_await reader.read(100);
                    out += "no error;";
                } catch (const std::system_error& e) {
                    out += "read: " + std::to_string(e.code().value() == ECONNRESET) + ";";
                }
                // Mid-write: the writer keeps writing into the dead connection.
                try {
                    for (int i = 0; i < 100; ++i) {
                        writer.write(std::string(100000, 'w'));
                        co_await writer.drain();
                    }
                    out += "no error;";
                } catch (const std::system_error& e) {
                    out += "drain: " +
                           std::to_string(e.code().value() == ECONNRESET ||
                                          e.code().value() == EPIPE) +
                           ";";
                }
            }
            // The server and another connection go on.
            auto [reader, writer] = co_await aio::open_connection("127.0.0.1", server.port());
            writer.write("still here");
            writer.write_eof();
            out += co_await reader.read();
            server.close();
            co_await server.wait_closed();
            co_return out;
        };
        REQUIRE(run_bounded(loop, body()) == "partial;read: 1;drain: 1;still here");
        REQUIRE(registrations(loop) == 1);
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("streams: writing after the peer closed gives EPIPE or ECONNRESET from drain, never "
          "SIGPIPE, and wait_closed reports it",
          "[streams]") {
    aio_test::io::BaselineHandler sigpipe(SIGPIPE); // counts a SIGPIPE instead of dying
    const int before = aio_test::io::baseline_handler_calls.load();
    aio::EventLoop loop;
    auto body = [&]() -> aio::Task<std::string> {
        auto [mine, theirs] = socket_pair();
        auto [reader, writer] = co_await aio::open_connection(std::move(mine));
        theirs.close();
        std::string out;
        writer.write("into the void");
        try {
            co_await writer.drain();
            co_await writer.drain();
            out += "no error;";
        } catch (const std::system_error& e) {
            out +=
                std::to_string(e.code().value() == EPIPE || e.code().value() == ECONNRESET) + ";";
        }
        writer.write("dropped"); // the connection is lost: dropped, as asyncio
        writer.close();
        try {
            co_await writer.wait_closed();
            out += "closed quietly";
        } catch (const std::system_error& e) {
            out += std::string("wait_closed: ") + (e.code().value() == EPIPE ? "EPIPE" : e.what());
        }
        co_return out;
    };
    REQUIRE(run_bounded(loop, body()) == "1;wait_closed: EPIPE");
    REQUIRE(aio_test::io::baseline_handler_calls.load() == before);
}

TEST_CASE("streams: write after close raises RuntimeError, close flushes what was queued and the "
          "reader sees it all, then EOF",
          "[streams]") {
    const int fds_before = aio_test::open_fd_count();
    {
        aio::EventLoop loop;
        auto body = [&]() -> aio::Task<std::string> {
            auto [mine, theirs] = socket_pair();
            auto [a_reader, a_writer] = co_await aio::open_connection(std::move(mine));
            auto [b_reader, b_writer] = co_await aio::open_connection(std::move(theirs));
            const std::string big(3 << 20, 'c');
            a_writer.write(big);
            a_writer.close();
            std::string out = "closing:" + std::to_string(a_writer.is_closing()) + ";";
            try {
                a_writer.write("late");
            } catch (const aio::RuntimeError& e) {
                out += std::string(e.what()) + ";";
            }
            const std::string got = co_await b_reader.read();
            out += "got all:" + std::to_string(got == big) + ";";
            co_await a_writer.wait_closed();
            out += "fd:" + std::to_string(a_writer.fd());
            co_return out;
        };
        REQUIRE(run_bounded(loop, body()) ==
                "closing:1;write() after close() or abort(): the bytes "
                "would be lost; write before closing;got all:1;fd:-1");
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("streams: dropping the last handle flushes and closes the connection", "[streams]") {
    const int fds_before = aio_test::open_fd_count();
    {
        aio::EventLoop loop;
        auto body = [&]() -> aio::Task<std::size_t> {
            auto [mine, theirs] = socket_pair();
            auto [b_reader, b_writer] = co_await aio::open_connection(std::move(theirs));
            {
                auto [a_reader, a_writer] = co_await aio::open_connection(std::move(mine));
                a_writer.write(std::string(2 << 20, 'd')); // more than the socket takes at once
            } // both handles gone: the rest is flushed, then the fd closes
            const std::string got = co_await b_reader.read();
            co_return got.size();
        };
        REQUIRE(run_bounded(loop, body()) == (2u << 20));
        REQUIRE(registrations(loop) == 1);
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("streams: a read pending when the writer closes the stream sees EOF", "[streams]") {
    const int fds_before = aio_test::open_fd_count();
    {
        aio::EventLoop loop;
        auto body = [&]() -> aio::Task<std::string> {
            auto [mine, theirs] = socket_pair();
            auto [reader, writer] = co_await aio::open_connection(std::move(mine));
            auto reading = aio::create_task(reader.read(10));
            co_await aio::sleep(0s);
            writer.close();
            const std::string got = co_await reading;
            co_return "[" + got + "] at_eof=" + std::to_string(reader.at_eof());
        };
        REQUIRE(run_bounded(loop, body()) == "[] at_eof=1");
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("streams: fds are non-blocking and close-on-exec, TCP_NODELAY is on", "[streams]") {
    const int fds_before = aio_test::open_fd_count();
    {
        aio::EventLoop loop;
        auto body = [&]() -> aio::Task<std::string> {
            aio::Server server =
                co_await aio::start_server(aio_test::streams::echo_lines, "127.0.0.1", 0);
            auto [reader, writer] = co_await aio::open_connection("127.0.0.1", server.port());
            std::string out;
            for (int fd : {writer.fd(), server.sockets()[0].fd()}) {
                out += std::to_string((::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0) +
                       std::to_string((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0) + ";";
            }
            int nodelay = 0;
            socklen_t len = sizeof nodelay;
            ::getsockopt(writer.fd(), IPPROTO_TCP, TCP_NODELAY, &nodelay, &len);
            out += "nodelay=" + std::to_string(nodelay != 0) + ";";
            int reuse = 0;
            ::getsockopt(server.sockets()[0].fd(), SOL_SOCKET, SO_REUSEADDR, &reuse, &len);
            out += "reuseaddr=" + std::to_string(reuse != 0) + ";";
            out += "peer=" + writer.peername().to_string().substr(0, 10) + ";";
            out += "local=" + writer.sockname().host();
            server.close();
            server.close_clients();
            co_await server.wait_closed();
            co_return out;
        };
        REQUIRE(run_bounded(loop, body()) ==
                "11;11;nodelay=1;reuseaddr=1;peer=127.0.0.1:;local=127.0.0.1");
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("streams: connecting to a closed port raises std::system_error ECONNREFUSED naming the "
          "address",
          "[streams]") {
    const int fds_before = aio_test::open_fd_count();
    {
        aio::EventLoop loop;
        auto body = [&]() -> aio::Task<std::string> {
            // A port that was just free: bind, note it, close.
            std::uint16_t port;
            {
                aio::Socket probe = aio::Socket::tcp();
                probe.bind({"127.0.0.1", 0});
                port = probe.sockname().port();
            }
            try {
                co_await aio::open_connection("127.0.0.1", port);
            } catch (const std::system_error& e) {
                co_return std::to_string(e.code().value() == ECONNREFUSED) + " " + e.what();
            }
            co_return "connected?";
        };
        const std::string out = run_bounded(loop, body());
        REQUIRE(out.starts_with("1 connect(127.0.0.1:"));
        REQUIRE(out.ends_with("): Connection refused"));
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("streams: getaddrinfo of a bad name raises std::system_error with gai's message",
          "[streams][dns]") {
    const int fds_before = aio_test::open_fd_count();
    {
        aio::EventLoop loop;
        auto body = [&]() -> aio::Task<std::vector<std::string>> {
            std::vector<std::string> out;
            aio::AddrInfoHints numeric;
            numeric.flags = AI_NUMERICHOST; // no DNS traffic: the name is rejected locally
            try {
                co_await loop.getaddrinfo("not a host name", 80, numeric);
            } catch (const std::system_error& e) {
                out.push_back(std::string(e.code().category().name()) + ": " + e.what());
            }
            aio::AddrInfoHints stream;
            stream.type = SOCK_STREAM;
            try {
                co_await loop.getaddrinfo("127.0.0.1", "no-such-service", stream);
            } catch (const std::system_error& e) {
                out.push_back(std::string(e.code().category().name()) + ": " + e.what());
            }
            const auto found = co_await loop.getaddrinfo("127.0.0.1", 8080, stream);
            out.push_back(found.size() == 1 ? found[0].address.to_string() : "?");
            // open_connection of a bad name fails the same way.
            try {
                co_await aio::open_connection("bad name with spaces.invalid", 80);
            } catch (const std::system_error& e) {
                out.push_back(e.code().category() == aio::gai_category() ? "gai" : e.what());
            }
            co_return out;
        };
        const auto out = run_bounded(loop, body());
        REQUIRE(out.size() == 4);
        REQUIRE(out[0] ==
                "getaddrinfo: getaddrinfo(not a host name, 80): Name or service not known");
        REQUIRE(out[1].starts_with("getaddrinfo: getaddrinfo(127.0.0.1, no-such-service): "));
        REQUIRE(out[2] == "127.0.0.1:8080");
        REQUIRE(out[3] == "gai");
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("streams: cancelling a task blocked in each kind of read, drain, wait_closed, accept "
          "and connect leaves no registration, no fd and no lost byte",
          "[streams]") {
    const int fds_before = aio_test::open_fd_count();
    {
        aio::EventLoop loop;
        const std::size_t base = registrations(loop);
        auto body = [&]() -> aio::Task<std::string> {
            std::string out;
            {
                auto [mine, theirs] = socket_pair();
                auto [reader, writer] = co_await aio::open_connection(std::move(mine));
                auto [t_reader, t_writer] = co_await aio::open_connection(std::move(theirs));
                // Reads.
                std::vector<aio::Task<std::string>> reads;
                reads.push_back(reader.read(5));
                reads.push_back(reader.readline());
                reads.push_back(reader.readexactly(5));
                reads.push_back(reader.readuntil("!"));
                for (auto& read : reads) {
                    auto task = aio::create_task(std::move(read));
                    co_await aio::sleep(0s);
                    task.cancel();
                    try {
                        co_await task;
                    } catch (const aio::CancelledError&) {
                        out += "c";
                    }
                }
                // Drain and wait_closed, blocked because the peer does not read.
                writer.set_write_buffer_limits(1000);
                writer.write(std::string(4 << 20, 'b'));
                auto draining = aio::create_task(
                    [](aio::StreamWriter w) -> aio::Task<> { co_await w.drain(); }(writer));
                co_await aio::sleep(0s);
                draining.cancel();
                try {
                    co_await draining;
                } catch (const aio::CancelledError&) {
                    out += "d";
                }
                // Nothing was lost: the peer gets every byte, then "tail".
                t_writer.write("data!tail\n");
                out += "[" + co_await reader.readuntil("!") + "]";
                writer.write("end");
                writer.close();
                auto closing = aio::create_task(
                    [](aio::StreamWriter w) -> aio::Task<> { co_await w.wait_closed(); }(writer));
                co_await aio::sleep(0s);
                closing.cancel();
                try {
                    co_await closing;
                } catch (const aio::CancelledError&) {
                    out += "w";
                }
                const std::string all = co_await t_reader.read();
                out += "[" + std::to_string(all.size()) + "]";
                out += "[" + co_await reader.readline() + "]";
            }
            // accept and connect.
            {
                aio::Socket listener = aio::Socket::tcp();
                listener.bind({"127.0.0.1", 0});
                listener.listen(0);
                auto accepting = aio::create_task([](aio::Socket& l) -> aio::Task<> {
                    co_await aio::get_running_loop().sock_accept(l);
                }(listener));
                co_await aio::sleep(0s);
                accepting.cancel();
                try {
                    co_await accepting;
                } catch (const aio::CancelledError&) {
                    out += "a";
                }
                // Fill the backlog so that a further connect stays in progress.
                std::vector<aio::Connection> held;
                std::vector<aio::Task<aio::Connection>> connects;
                for (int i = 0; i < 8; ++i)
                    connects.push_back(aio::create_task(
                        aio::open_connection("127.0.0.1", listener.sockname().port())));
                co_await aio::sleep(50ms);
                int pending = 0;
                for (auto& c : connects) {
                    if (!c.done()) {
                        ++pending;
                        c.cancel();
                    }
                }
                for (auto& c : connects) {
                    try {
                        held.push_back(co_await c);
                    } catch (const aio::CancelledError&) {
                    }
                }
                out += pending > 0 ? "n" : "no connect was pending";
            }
            co_return out;
        };
        REQUIRE(run_bounded(loop, body()) ==
                "ccccd[data!]w[" + std::to_string((4 << 20) + 3) + "][tail\n]an");
        REQUIRE(registrations(loop) == base);
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("streams: write(std::string&&) queues a large string as it is and keeps the order "
          "of the writes around it",
          "[streams]") {
    const int fds_before = aio_test::open_fd_count();
    {
        aio::EventLoop loop;
        auto body = [&]() -> aio::Task<std::string> {
            auto [mine, theirs] = aio_test::streams::socket_pair();
            auto [a_reader, a_writer] = co_await aio::open_connection(std::move(mine));
            auto [b_reader, b_writer] = co_await aio::open_connection(std::move(theirs));
            std::string expected;
            for (int i = 0; i < 4; ++i) {
                std::string big(3 << 20, static_cast<char>('a' + i)); // more than the socket takes
                expected += big;
                a_writer.write(std::move(big));
                a_writer.write("|small|");
                expected += "|small|";
            }
            a_writer.write_eof();
            const std::string got = co_await b_reader.read();
            co_return got == expected
                ? "same"
                : "differs at " + std::to_string(std::mismatch(got.begin(), got.end(),
                                                               expected.begin(), expected.end())
                                                     .first -
                                                 got.begin());
        };
        REQUIRE(run_bounded(loop, body()) == "same");
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("streams: drain after close raises ECONNRESET as asyncio, an empty writer raises "
          "RuntimeError, and errors of a client stream name the peer",
          "[streams]") {
    const int fds_before = aio_test::open_fd_count();
    {
        aio::EventLoop loop;
        auto body = [&]() -> aio::Task<std::vector<std::string>> {
            std::vector<std::string> out;
            auto [mine, theirs] = aio_test::streams::socket_pair();
            auto [reader, writer] = co_await aio::open_connection(std::move(mine));
            writer.close();
            try {
                co_await writer.drain();
                out.push_back("no error");
            } catch (const std::system_error& e) {
                out.push_back(std::to_string(e.code().value() == ECONNRESET) + " " + e.what());
            }
            aio::StreamWriter empty;
            try {
                empty.get_write_buffer_limits();
            } catch (const aio::RuntimeError& e) {
                out.push_back(e.what());
            }
            // A TCP client whose peer resets: the error names the peer.
            aio::Socket listener = aio::Socket::tcp();
            listener.bind({"127.0.0.1", 0});
            listener.listen();
            auto [c_reader, c_writer] =
                co_await aio::open_connection("127.0.0.1", listener.sockname().port());
            {
                auto [peer, address] = co_await loop.sock_accept(listener);
                aio_test::streams::linger_zero(peer.fd());
            }
            try {
                co_await c_reader.read(10);
                out.push_back("no error");
            } catch (const std::system_error& e) {
                out.push_back(e.what());
            }
            co_return out;
        };
        const auto out = run_bounded(loop, body());
        REQUIRE(out.size() == 3);
        REQUIRE(out[0] == "1 drain() after close() or abort(): the connection is closed: "
                          "Connection reset by peer");
        REQUIRE(out[1] == "get_write_buffer_limits() on an empty StreamWriter");
        REQUIRE(out[2].find(" (peer 127.0.0.1:") != std::string::npos);
        REQUIRE(out[2].ends_with("): Connection reset by peer"));
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("streams: the peer going away while the rest of a large write waits for writability "
          "fails drain() and disturbs nothing else",
          "[streams]") {
    const int fds_before = aio_test::open_fd_count();
    {
        aio::EventLoop loop;
        auto body = [&]() -> aio::Task<std::string> {
            auto [mine, theirs] = aio_test::streams::socket_pair();
            auto [other_mine, other_theirs] = aio_test::streams::socket_pair();
            auto [reader, writer] = co_await aio::open_connection(std::move(mine));
            auto [o_reader, o_writer] = co_await aio::open_connection(std::move(other_mine));
            // Both wait in the driver's write list of their fd; the first one's peer leaves, so
            // its flush fails inside the driver's dispatch.
            writer.write(std::string(4 << 20, 'x'));
            o_writer.write(std::string(4 << 20, 'y'));
            theirs.close();
            std::string out;
            try {
                co_await writer.drain();
                co_await writer.drain();
                out += "no error;";
            } catch (const std::system_error& e) {
                out += std::to_string(e.code().value() == EPIPE || e.code().value() == ECONNRESET) +
                       ";";
            }
            std::size_t got = 0;
            std::string buf(1 << 16, '\0');
            while (got < (4u << 20)) {
                const ssize_t n = ::recv(other_theirs.fd(), buf.data(), buf.size(), MSG_DONTWAIT);
                if (n > 0)
                    got += static_cast<std::size_t>(n);
                else
                    co_await aio::sleep(0s);
            }
            co_await o_writer.drain();
            out += "other got " + std::to_string(got);
            co_return out;
        };
        REQUIRE(run_bounded(loop, body()) == "1;other got 4194304");
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("streams: a server or socket closed while no loop runs leaves no stale registration "
          "for the next fd with its number",
          "[streams]") {
    aio::EventLoop loop;
    aio::Server server =
        loop.run_until_complete(aio::start_server(aio_test::streams::echo_lines, "127.0.0.1", 0));
    // A socket registered by a wait.
    aio::Socket udp = aio::Socket::udp();
    udp.bind({"127.0.0.1", 0});
    auto wait_once = [&]() -> aio::Task<> {
        try {
            co_await aio::wait_for(aio::wait_readable(udp.fd()), 10ms);
        } catch (const aio::TimeoutError&) {
        }
    };
    loop.run_until_complete(wait_once()); // the accept loop waits on the listener meanwhile
    const int listener_fd = server.sockets()[0].fd();
    const int udp_fd = udp.fd();
    server.close(); // outside the loop
    udp.close();    // outside the loop: a plain close(2)
    auto body = [&]() -> aio::Task<std::string> {
        std::string out;
        // The numbers come back: an aio socket and a user's socketpair.
        aio::Socket fresh = aio::Socket::tcp();
        auto [mine, theirs] = aio_test::streams::socket_pair();
        const bool reused = fresh.fd() == listener_fd && mine.fd() == udp_fd;
        out += "reused=" + std::to_string(reused) + ";";
        aio::Socket listener = std::move(fresh);
        listener.bind({"127.0.0.1", 0});
        listener.listen();
        auto accepting = aio::create_task([](aio::Socket& l) -> aio::Task<std::string> {
            auto [conn, peer] = co_await aio::get_running_loop().sock_accept(l);
            co_return "accepted";
        }(listener));
        auto [c_reader, c_writer] =
            co_await aio::open_connection("127.0.0.1", listener.sockname().port());
        out += co_await aio::wait_for(std::move(accepting), 5s) + ";";
        auto [reader, writer] = co_await aio::open_connection(std::move(mine));
        aio_test::streams::send_all_raw(theirs.fd(), "hello");
        out += co_await aio::wait_for(reader.read(100), 5s);
        co_return out;
    };
    REQUIRE(run_bounded(loop, body()) == "reused=1;accepted;hello");
}

TEST_CASE("streams: read(n) with a huge n returns what is there, without reserving n bytes",
          "[streams]") {
    aio::EventLoop loop;
    auto body = [&]() -> aio::Task<std::string> {
        auto [mine, theirs] = aio_test::streams::socket_pair();
        auto [reader, writer] = co_await aio::open_connection(std::move(mine));
        aio_test::streams::send_all_raw(theirs.fd(), "hello");
        std::string out = co_await reader.read(std::numeric_limits<std::ptrdiff_t>::max());
        aio_test::streams::send_all_raw(theirs.fd(), "world");
        theirs.close();
        out += "|" + co_await reader.read(std::numeric_limits<std::ptrdiff_t>::max());
        co_return out;
    };
    REQUIRE(run_bounded(loop, body()) == "hello|world");
}

TEST_CASE("streams: read_into appends up to n bytes to the caller's string, keeps its storage, "
          "returns 0 at EOF",
          "[streams]") {
    const int fds_before = aio_test::open_fd_count();
    {
        aio::EventLoop loop;
        auto body = [&]() -> aio::Task<std::string> {
            auto [mine, theirs] = socket_pair();
            auto [reader, writer] = co_await aio::open_connection(std::move(mine));
            std::string buffer = "kept:";
            buffer.reserve(1024);
            const char* storage = buffer.data();
            std::string log;
            aio_test::streams::send_all_raw(theirs.fd(), "abcdef");
            std::size_t n = co_await reader.read_into(buffer, 4); // a recv
            log += std::to_string(n) + "[" + buffer + "];";
            n = co_await reader.read_into(buffer, 100); // the rest, from the stream's buffer
            log += std::to_string(n) + "[" + buffer + "];";
            n = co_await reader.read_into(buffer, 0);
            log += std::to_string(n) + ";";
            // Waits for the next bytes, as read(n).
            auto late = aio::create_task([](int fd) -> aio::Task<> {
                co_await aio::sleep(10ms);
                aio_test::streams::send_all_raw(fd, "gh");
            }(theirs.fd()));
            n = co_await reader.read_into(buffer, 100);
            co_await late;
            log += std::to_string(n) + "[" + buffer + "];";
            log += buffer.data() == storage ? "same storage;" : "reallocated;";
            theirs.close();
            n = co_await reader.read_into(buffer, 100);
            log += std::to_string(n) + (reader.at_eof() ? " eof" : " not eof");
            co_return log;
        };
        REQUIRE(run_bounded(loop, body()) == "4[kept:abcd];2[kept:abcdef];0;2[kept:abcdefgh];"
                                             "same storage;0 eof");
        REQUIRE(registrations(loop) == 1);
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}

TEST_CASE("streams: read_into is cancel-safe, takes turns with the other reads, and reports a "
          "reset once the buffer is empty",
          "[streams]") {
    const int fds_before = aio_test::open_fd_count();
    {
        aio::EventLoop loop;
        auto body = [&]() -> aio::Task<std::string> {
            std::string log;
            {
                auto [mine, theirs] = socket_pair();
                auto [reader, writer] = co_await aio::open_connection(std::move(mine));
                std::string buffer;
                // A wait cancelled by a timeout appends nothing.
                try {
                    co_await aio::wait_for(reader.read_into(buffer, 10), 20ms);
                } catch (const aio::TimeoutError&) {
                    log += "timeout[" + buffer + "];";
                }
                // A cancellation already pending is delivered before buffered bytes are taken.
                aio_test::streams::send_all_raw(theirs.fd(), "abc");
                log += co_await reader.readexactly(1) + ";"; // "bc" stays buffered
                try {
                    aio::current_task().cancel();
                    co_await reader.read_into(buffer, 10);
                    log += "not cancelled;";
                } catch (const aio::CancelledError&) {
                    log += "cancelled[" + buffer +
                           "] buffered=" + std::to_string(reader.buffered()) + ";";
                }
                // One reader at a time, whichever call it uses.
                auto first = aio::create_task(reader.readexactly(3));
                co_await aio::sleep(0s);
                try {
                    co_await reader.read_into(buffer, 10);
                } catch (const aio::RuntimeError& e) {
                    const std::string what = e.what();
                    log += what.starts_with("read_into() called while another task is already "
                                            "waiting")
                               ? "busy;"
                               : what + ";";
                }
                aio_test::streams::send_all_raw(theirs.fd(), "d");
                log += co_await first + ";";
            }
            {
                // A reset: the bytes that came before it first, then ECONNRESET.
                const std::string partial = "partial";
                auto [reader, writer] =
                    co_await aio_test::streams::connection_reset_by_peer(partial);
                std::string buffer;
                std::size_t n = 0;
                try {
                    for (;;) {
                        n = co_await reader.read_into(buffer, 100);
                        log += std::to_string(n) + "[" + buffer + "];";
                        if (n == 0)
                            break;
                    }
                } catch (const std::system_error& e) {
                    log += "reset=" + std::to_string(e.code().value() == ECONNRESET);
                }
            }
            co_return log;
        };
        REQUIRE(run_bounded(loop, body()) ==
                "timeout[];a;cancelled[] buffered=2;busy;bcd;7[partial];reset=1");
        REQUIRE(registrations(loop) == 1);
    }
    REQUIRE(aio_test::open_fd_count() == fds_before);
}
