// http_server — an HTTP/1.1 server in the shape of an asyncio program: a server, a task per
// connection, a housekeeping task; with --threads N, one loop per thread sharing the port.
// curl, browsers, Python's http.client and wrk talk to it as to any web server.
//
//   http_server --port N [--threads N] [--static DIR] [--idle-timeout SECONDS] [--grace SECONDS]
//                                            serve until SIGTERM / SIGINT (graceful)
//   http_server                              a self-contained demo that ends
//
// Routes:
//   GET|HEAD /                 200 "Hello, world!"
//   GET|HEAD /static/<path>    a file under DIR (404 outside it: "..", symlinks out, none there)
//   POST /echo                 200, the request's body (Content-Length or chunked)
//   GET /thread                200 "thread <i> of <n>": which loop answered
//   other methods on those     405 with Allow; anything else 404
//
// - Keep-alive (HTTP/1.1's default, 1.0's with "Connection: keep-alive") and pipelining: every
//   complete request in what was read is answered, the responses written in one batch.
// - Bad input gets its status and a closed connection: 400 malformed, 413 a body over 1 MiB,
//   414 a request line over 8 KiB, 431 a head over 8 KiB or over 100 fields, 501 a transfer
//   coding other than chunked, 505 another HTTP version (see http.hpp). "Expect:
//   100-continue" is answered before the body is read.
// - A connection silent for --idle-timeout seconds (default 60) is dropped, between requests or
//   in the middle of one (a client sending a header a byte a minute, or not reading what it
//   asked for, cannot hold its connection and its queued output forever). Pipelined requests
//   are answered 256 KiB of output at a time, each batch drained before the next.
// - SIGTERM / SIGINT: stop accepting, close the idle connections, let each busy one finish its
//   response (sent with "Connection: close"), then exit; after --grace seconds (default 10)
//   the stragglers are dropped.
//
// Output without arguments (the port varies):
//     http_server on 127.0.0.1:40123 (1 thread)
//     GET / -> 200 Hello, world!
//     GET /static/hello.txt -> 200 hi from a file
//     GET /static/../secret.txt -> 404
//     POST /echo (chunked) -> 200 ping pong
//     DELETE / -> 405 (Allow: GET, HEAD)
//     two pipelined GETs -> 200 200
//     a malformed request -> 400, connection closed
//     server stopped

#include "http.hpp"
#include <aio/aio.hpp>

#include <fmt/core.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <climits>
#include <cstdint>
#include <ctime>
#include <fstream>
#include <future>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <stdlib.h>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct Config {
    std::uint16_t port = 0;
    int threads = 1;
    std::string static_root; // canonical (realpath), or empty: /static/ is 404
    std::chrono::milliseconds idle_timeout = 60s;
    std::chrono::milliseconds grace = 10s; // at SIGTERM, for the busy connections to finish
    http::Limits limits;
};

// --- static files ------------------------------------------------------------------------

/// The target's path, %-decoded, without its query; nullopt when a %-escape is malformed or
/// decodes to NUL. An absolute-form target ("http://host/path") gives its path.
std::optional<std::string> decoded_path(std::string_view target) {
    if (target.starts_with("http://") || target.starts_with("https://")) {
        const std::size_t slash = target.find('/', target.find("//") + 2);
        target = slash == std::string_view::npos ? "/" : target.substr(slash);
    }
    target = target.substr(0, target.find('?'));
    std::string path;
    for (std::size_t i = 0; i < target.size(); ++i) {
        if (target[i] != '%') {
            path += target[i];
            continue;
        }
        unsigned value = 0;
        if (i + 2 >= target.size())
            return std::nullopt;
        const auto [end, ec] =
            std::from_chars(target.data() + i + 1, target.data() + i + 3, value, 16);
        if (ec != std::errc() || end != target.data() + i + 3 || value == 0)
            return std::nullopt;
        path += static_cast<char>(value);
        i += 2;
    }
    return path;
}

/// The file at `relative` under `root`, or nullopt when it is not a regular file inside root:
/// no ".." segment, and its real path (symlinks resolved) still under root. Runs on a worker
/// thread (aio::to_thread): realpath, stat and read block.
std::optional<std::string> load_static(std::string root, std::string relative) {
    std::size_t start = 0;
    while (start <= relative.size()) {
        const std::size_t slash = std::min(relative.find('/', start), relative.size());
        if (relative.substr(start, slash - start) == "..")
            return std::nullopt;
        start = slash + 1;
    }
    const std::string joined = root + "/" + relative;
    char resolved[PATH_MAX];
    if (!::realpath(joined.c_str(), resolved))
        return std::nullopt;
    const std::string_view real(resolved);
    if (!real.starts_with(root) || real.size() <= root.size() || real[root.size()] != '/')
        return std::nullopt;
    struct stat info {};
    if (::stat(resolved, &info) != 0 || !S_ISREG(info.st_mode) || info.st_size > (64 << 20))
        return std::nullopt;
    std::ifstream file(resolved, std::ios::binary);
    std::ostringstream contents;
    contents << file.rdbuf();
    if (!file)
        return std::nullopt;
    return std::move(contents).str();
}

std::string_view content_type(std::string_view path) {
    const std::string_view ext = path.substr(std::min(path.rfind('.'), path.size()));
    if (ext == ".html" || ext == ".htm")
        return "text/html; charset=utf-8";
    if (ext == ".txt")
        return "text/plain; charset=utf-8";
    if (ext == ".css")
        return "text/css";
    if (ext == ".js")
        return "text/javascript";
    if (ext == ".json")
        return "application/json";
    if (ext == ".png")
        return "image/png";
    if (ext == ".jpg" || ext == ".jpeg")
        return "image/jpeg";
    if (ext == ".svg")
        return "image/svg+xml";
    return "application/octet-stream";
}

// --- one loop's server -------------------------------------------------------------------

/// What the housekeeping task sees of a connection.
struct Connection {
    aio::Task<> task;
    aio::StreamWriter writer; // to abort it: a flushing close would wait for a silent client
    std::chrono::steady_clock::time_point last_active;
    bool idle = true; // between requests: nothing of the next one received yet

    /// Ends it now: queued output is dropped, the task is cancelled.
    void drop() {
        writer.abort();
        task.cancel();
    }
};

/// One loop's share of the server: its connections, the cached Date field, the stop flag.
struct Site {
    const Config& config;
    int thread_index = 0;
    std::set<Connection*> connections;
    aio::Event all_gone; // set when stopping and the last connection's handler has ended
    std::string date;
    bool stopping = false;

    void update_date() {
        const std::time_t now = std::time(nullptr);
        std::tm utc{};
        ::gmtime_r(&now, &utc);
        char text[64];
        date.assign(text, std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &utc));
    }
};

bool is_get(const http::RequestHead& head) {
    return head.method == "GET" || head.method == "HEAD";
}

http::ResponseOptions response_options(const Site& site, const http::RequestHead& head) {
    http::ResponseOptions options;
    options.keep_alive = head.keep_alive && !site.stopping;
    options.date = site.date;
    options.head_only = head.method == "HEAD";
    options.http_1_0 = head.minor_version == 0;
    return options;
}

/// Appends the response to a request for anything but a file (those: send_file); false when
/// the connection ends after it.
bool respond(const Site& site, const http::RequestHead& head,
             const std::optional<std::string>& path, std::string_view body, std::string& out) {
    http::ResponseOptions options = response_options(site, head);
    if (!path) {
        options.keep_alive = false;
        http::append_response(out, 400, "a malformed %-escape in the target\n", options);
    } else if (*path == "/" || *path == "/thread" || path->starts_with("/static/")) {
        if (!is_get(head)) {
            options.extra_headers = "Allow: GET, HEAD\r\n";
            http::append_response(out, 405, "", options);
        } else if (*path == "/") {
            http::append_response(out, 200, "Hello, world!\n", options);
        } else {
            http::append_response(
                out, 200, fmt::format("thread {} of {}\n", site.thread_index, site.config.threads),
                options);
        }
    } else if (*path == "/echo") {
        if (head.method != "POST") {
            options.extra_headers = "Allow: POST\r\n";
            http::append_response(out, 405, "", options);
        } else {
            options.content_type = "application/octet-stream";
            http::append_response(out, 200, body, options);
        }
    } else {
        http::append_response(out, 404, "not found\n", options);
    }
    return options.keep_alive;
}

/// Appends the response to GET /static/<file>: the file is read on a worker thread (opening
/// and reading a file block, which a loop must not). False when the connection ends after it.
aio::Task<bool> send_file(const Site& site, const http::RequestHead& head, std::string path,
                          std::string& out) {
    http::ResponseOptions options = response_options(site, head);
    std::optional<std::string> file;
    if (!site.config.static_root.empty())
        file = co_await aio::to_thread(load_static, site.config.static_root, path.substr(8));
    if (!file) {
        http::append_response(out, 404, "not found\n", options);
    } else {
        options.content_type = content_type(path);
        http::append_response(out, 200, *file, options);
    }
    co_return options.keep_alive;
}

aio::Task<> discard_input(aio::StreamReader reader) {
    for (;;) {
        const std::string dropped = co_await reader.read(64 * 1024);
        if (dropped.empty())
            break;
    }
}

/// After a response that ends a connection with input unanswered (bad input, or requests
/// pipelined after a "Connection: close"): shut the write side (the client sees
/// end of file after the response), then read and drop what the client still sends for up to a
/// second — closing with unread bytes would reset the connection, and the client could lose
/// the response (nginx's "lingering close").
aio::Task<> linger(aio::StreamReader reader, aio::StreamWriter writer) {
    writer.write_eof();
    try {
        co_await aio::wait_for(discard_input(reader), 1s);
    } catch (const aio::TimeoutError&) {
    } catch (const std::system_error&) {
    }
}

/// A request being received: its head once parsed, the body bytes used so far.
struct Incoming {
    http::RequestHead head;
    std::size_t body_size = 0; // bytes after the head used (the body, or its chunked framing)
    std::string chunked_body;
    http::ChunkedDecoder decoder;
    bool continue_sent = false;

    /// "100 Continue", once, when the client waits for it before sending the body.
    void ask_for_body(std::string& out) {
        if (head.expect_continue && !continue_sent)
            out += "HTTP/1.1 100 Continue\r\n\r\n";
        continue_sent = true;
    }
    void next() {
        body_size = 0;
        chunked_body.clear();
        continue_sent = false;
    }
};

/// The response to input the parser refused (its status and why); the connection then ends.
void append_rejection(const Site& site, const http::Result& refused, std::string& out) {
    http::ResponseOptions options;
    options.keep_alive = false;
    options.date = site.date;
    http::append_response(out, refused.status, fmt::format("{}\n", refused.reason), options);
}

/// What one round of pipelined requests may add to a connection's output before it is written
/// and drained: without it, a read of 64 KiB of "GET /big-file" requests would make the server
/// hold every response at once.
constexpr std::size_t max_batch_output = 256 * 1024;

aio::Task<> serve_connection(Site& site, Connection& connection, aio::StreamReader reader,
                             aio::StreamWriter writer) {
    const http::Limits& limits = site.config.limits;
    std::string in;
    std::size_t start = 0; // where the first request not yet answered begins
    Incoming request;
    bool closing = false, bad_input = false;
    std::string out; // the responses to what was received (its capacity is kept)
    while (!closing) {
        // Answer every complete request received; `out` gathers the responses.
        out.clear();
        bool held_back = false;
        for (;;) {
            const std::string_view pending = std::string_view(in).substr(start);
            if (pending.empty())
                break;
            // Parsed again while its body arrives: the head's views point into `in`, which
            // moves as it grows.
            const http::Result head = http::parse_head(pending, request.head, limits);
            if (head.parse == http::Parse::incomplete)
                break;
            if (head.parse == http::Parse::error) {
                append_rejection(site, head, out);
                closing = bad_input = true;
                break;
            }
            std::string_view body;
            const std::string_view after_head = pending.substr(head.consumed);
            if (request.head.chunked) {
                const http::Result chunks = request.decoder.feed(
                    after_head.substr(request.body_size), request.chunked_body, limits);
                request.body_size += chunks.consumed;
                if (chunks.parse == http::Parse::error) {
                    append_rejection(site, chunks, out);
                    closing = bad_input = true;
                    break;
                }
                if (chunks.parse == http::Parse::incomplete) {
                    request.ask_for_body(out);
                    break;
                }
                body = request.chunked_body;
            } else if (request.head.content_length > 0) {
                if (after_head.size() < request.head.content_length) {
                    request.ask_for_body(out);
                    break;
                }
                request.body_size = request.head.content_length;
                body = after_head.substr(0, request.body_size);
            }
            std::optional<std::string> path = decoded_path(request.head.target);
            bool keep_alive;
            if (path && path->starts_with("/static/") && is_get(request.head))
                keep_alive = co_await send_file(site, request.head, std::move(*path), out);
            else
                keep_alive = respond(site, request.head, path, body, out);
            start += head.consumed + request.body_size;
            closing = !keep_alive;
            request.next();
            if (closing)
                break;
            if (out.size() >= max_batch_output) {
                held_back = true; // the rest of a pipeline waits until this output has drained
                break;
            }
        }
        in.erase(0, start);
        start = 0;
        if (!out.empty())
            writer.write(std::string_view(out)); // copied only if the kernel does not take it all
        if (closing)
            break;
        co_await writer.drain(); // a client that does not read is not read from either
        connection.idle = in.empty();
        connection.last_active = std::chrono::steady_clock::now();
        if (connection.idle && site.stopping)
            break;
        if (held_back)
            continue; // answer the rest of what was received before reading more
        const std::size_t received = co_await reader.read_into(in, 64 * 1024); // appends
        if (received == 0)
            break; // the client closed
        connection.idle = false;
        connection.last_active = std::chrono::steady_clock::now();
    }
    if (bad_input || !in.empty() || reader.buffered() > 0)
        co_await linger(reader, writer); // (requests after the last answered: see linger)
    else
        co_await writer.drain(); // under the idle timeout: a client that stops reading is dropped
    writer.close();
}

/// Every 100 ms: refresh the Date field; drop the connections silent for the idle timeout (a
/// client that sends nothing, or does not read what it asked for), and, once stopping, those
/// waiting for a next request.
aio::Task<> housekeeping(Site& site) {
    for (;;) {
        site.update_date();
        const auto now = std::chrono::steady_clock::now();
        for (Connection* connection : site.connections)
            if (now - connection->last_active > site.config.idle_timeout ||
                (site.stopping && connection->idle))
                connection->drop();
        co_await aio::sleep(100ms);
    }
}

/// Serves on `port` (SO_REUSEPORT when threads > 1) until SIGTERM / SIGINT. `listening(port)`
/// runs once it listens; `ready(port)` is the demo's client, run as a task (or nothing).
template <class Listening, class Ready>
aio::Task<> serve(const Config& config, int thread_index, std::uint16_t port, Listening listening,
                  Ready ready) {
    Site site{config, thread_index, {}, {}, {}, false};
    site.update_date();
    auto handle = [&site](aio::StreamReader reader, aio::StreamWriter writer) -> aio::Task<> {
        Connection connection{{}, writer, std::chrono::steady_clock::now(), true};
        connection.task = aio::create_task(
            serve_connection(site, connection, std::move(reader), std::move(writer)));
        site.connections.insert(&connection);
        try {
            co_await connection.task;
        } catch (const aio::CancelledError&) {
            // the idle timeout, or shutdown: the connection is closed with its task
        } catch (const std::system_error&) {
            // the peer reset the connection, or the like: it is closed
        }
        site.connections.erase(&connection);
        if (site.stopping && site.connections.empty())
            site.all_gone.set(); // serve() may return: nothing refers to `site` any more
    };
    aio::ServerOptions options;
    options.reuse_port = config.threads > 1;
    aio::Event stop;
    aio::EventLoop& loop = aio::get_running_loop();
    loop.add_signal_handler(SIGTERM, [&] { stop.set(); });
    loop.add_signal_handler(SIGINT, [&] { stop.set(); });
    aio::Server listener = co_await aio::start_server(handle, "127.0.0.1", port, options);
    listening(listener.port()); // (once everything is set up: a SIGTERM from then on stops it)
    aio::Task<> keeper = aio::create_task(housekeeping(site));
    aio::Task<> client = aio::create_task(ready(listener.port(), stop));
    co_await stop.wait();
    site.stopping = true;
    listener.close();
    for (Connection* connection : site.connections)
        if (connection->idle)
            connection->drop();
    bool late = false;
    try {
        co_await aio::wait_for(listener.wait_closed(), config.grace);
    } catch (const aio::TimeoutError&) {
        late = true;
    }
    if (late) {
        for (Connection* connection : site.connections)
            connection->drop();
        listener.abort_clients();
        co_await listener.wait_closed();
    }
    // The transports are closed; the handlers may still be ending, and they use `site`.
    if (!site.connections.empty())
        co_await site.all_gone.wait();
    co_await client;
    keeper.cancel();
}

// --- the demo ----------------------------------------------------------------------------

/// Sends `request` and reads one response: "<status> <body>" (the body without its newline).
aio::Task<std::string> exchange(aio::StreamReader reader, aio::StreamWriter writer,
                                std::string request) {
    writer.write(std::move(request));
    std::string status_line = co_await reader.readline();
    if (status_line.size() < 12)
        co_return "connection closed";
    std::size_t length = 0;
    for (;;) {
        const std::string line = co_await reader.readline();
        if (line == "\r\n" || line.empty())
            break;
        if (http::detail::iequals(std::string_view(line).substr(0, 15), "content-length:"))
            length = std::stoul(line.substr(15));
    }
    std::string body = co_await reader.readexactly(length);
    while (!body.empty() && body.back() == '\n')
        body.pop_back();
    co_return status_line.substr(9, 3) + (body.empty() ? "" : " " + body);
}

aio::Task<> demo_client(std::uint16_t port, aio::Event& stop, std::string root) {
    auto [reader, writer] = co_await aio::open_connection("127.0.0.1", port);
    const std::string host = "Host: localhost\r\n";
    std::string reply = co_await exchange(reader, writer, "GET / HTTP/1.1\r\n" + host + "\r\n");
    fmt::print("GET / -> {}\n", reply);
    reply = co_await exchange(reader, writer, "GET /static/hello.txt HTTP/1.1\r\n" + host + "\r\n");
    fmt::print("GET /static/hello.txt -> {}\n", reply);
    reply =
        co_await exchange(reader, writer, "GET /static/../secret.txt HTTP/1.1\r\n" + host + "\r\n");
    fmt::print("GET /static/../secret.txt -> {}\n", reply.substr(0, 3));
    reply = co_await exchange(
        reader, writer,
        "POST /echo HTTP/1.1\r\n" + host +
            "Transfer-Encoding: chunked\r\n\r\n5\r\nping \r\n4\r\npong\r\n0\r\n\r\n");
    fmt::print("POST /echo (chunked) -> {}\n", reply);
    reply = co_await exchange(reader, writer, "DELETE / HTTP/1.1\r\n" + host + "\r\n");
    fmt::print("DELETE / -> {} (Allow: GET, HEAD)\n", reply);
    const std::string get = "GET / HTTP/1.1\r\n" + host + "\r\n";
    writer.write(get + get);
    const std::string first = co_await exchange(reader, writer, "");
    const std::string second = co_await exchange(reader, writer, "");
    fmt::print("two pipelined GETs -> {} {}\n", first.substr(0, 3), second.substr(0, 3));
    reply = co_await exchange(reader, writer, "GET / HTTP/1.1\r\nHost : x\r\n\r\n");
    const std::string after = co_await reader.read();
    fmt::print("a malformed request -> {}{}\n", reply.substr(0, 3),
               after.empty() ? ", connection closed" : ", connection open");
    writer.close();
    ::unlink((root + "/hello.txt").c_str());
    ::unlink((root + "/../secret.txt").c_str());
    stop.set();
}

int demo() {
    // A static directory with one file, and a secret file beside it that must not be served.
    char base[] = "/tmp/aio_http_demo_XXXXXX";
    if (!::mkdtemp(base))
        throw std::runtime_error("mkdtemp failed");
    const std::string root = std::string(base) + "/static";
    ::mkdir(root.c_str(), 0700);
    std::ofstream(root + "/hello.txt") << "hi from a file\n";
    std::ofstream(std::string(base) + "/secret.txt") << "not for the web\n";
    Config config;
    char resolved[PATH_MAX];
    config.static_root = ::realpath(root.c_str(), resolved) ? resolved : root;
    aio::run(serve(
        config, 0, 0,
        [](std::uint16_t port) {
            fmt::print("http_server on 127.0.0.1:{} (1 thread)\n", port);
            std::fflush(stdout);
        },
        [&](std::uint16_t port, aio::Event& stop) { return demo_client(port, stop, root); }));
    ::rmdir(root.c_str());
    ::rmdir(base);
    fmt::print("server stopped\n");
    return 0;
}

// --- serving ------------------------------------------------------------------------------

aio::Task<> no_client(std::uint16_t, aio::Event&) {
    co_return;
}

/// One loop per thread: thread 0 listens first (on --port, or a free port), then the others
/// listen on the same port (SO_REUSEPORT) and the kernel spreads the connections.
int serve_threads(const Config& config) {
    std::promise<std::uint16_t> first_port;
    std::vector<std::thread> threads;
    std::vector<std::promise<void>> listening(static_cast<std::size_t>(config.threads));
    auto run_thread = [&](int index, std::uint16_t port) {
        try {
            aio::run(serve(
                config, index, port,
                [&, index](std::uint16_t chosen) {
                    if (index == 0)
                        first_port.set_value(chosen);
                    listening[static_cast<std::size_t>(index)].set_value();
                },
                no_client));
        } catch (const std::exception& e) {
            // A loop that cannot serve (the port is taken...) ends the process: the others
            // would serve only part of what was asked for.
            fmt::print(stderr, "http_server: thread {}: {}\n", index, e.what());
            std::fflush(stderr);
            std::_Exit(1);
        }
    };
    threads.emplace_back(run_thread, 0, config.port);
    const std::uint16_t port = first_port.get_future().get();
    for (int i = 1; i < config.threads; ++i)
        threads.emplace_back(run_thread, i, port);
    for (auto& promise : listening)
        promise.get_future().wait();
    fmt::print("http_server on 127.0.0.1:{} ({} thread{})\n", port, config.threads,
               config.threads == 1 ? "" : "s");
    std::fflush(stdout);
    for (std::thread& thread : threads)
        thread.join();
    fmt::print("server stopped\n");
    return 0;
}

[[noreturn]] void usage(const std::string& problem) {
    fmt::print(stderr,
               "http_server: {}\nusage: http_server --port N [--threads N] [--static DIR] "
               "[--idle-timeout SECONDS] [--grace SECONDS]\n",
               problem);
    std::exit(2);
}

} // namespace

int main(int argc, char** argv) {
    if (argc == 1)
        return demo();
    Config config;
    for (int i = 1; i < argc; ++i) {
        const std::string_view flag = argv[i];
        if (i + 1 == argc)
            usage(fmt::format("{} needs a value", flag));
        const std::string value = argv[++i];
        try {
            if (flag == "--port") {
                config.port = static_cast<std::uint16_t>(std::stoul(value));
            } else if (flag == "--threads") {
                config.threads = std::stoi(value);
                if (config.threads < 1 || config.threads > 256)
                    usage("--threads takes 1 to 256");
            } else if (flag == "--static") {
                char resolved[PATH_MAX];
                if (!::realpath(value.c_str(), resolved))
                    usage(fmt::format("--static {}: no such directory", value));
                config.static_root = resolved;
            } else if (flag == "--idle-timeout" || flag == "--grace") {
                (flag == "--grace" ? config.grace : config.idle_timeout) =
                    std::chrono::milliseconds(static_cast<std::int64_t>(std::stod(value) * 1000));
            } else {
                usage(fmt::format("unknown option {}", flag));
            }
        } catch (const std::logic_error&) {
            usage(fmt::format("{} {}: not a number", flag, value));
        }
    }
    // Each thread's loop has its own SIGTERM / SIGINT handler: one signal stops them all.
    return serve_threads(config);
}
