// aio streams — asyncio's StreamReader / StreamWriter and open_connection, on the I/O driver.
//
//   auto [reader, writer] = co_await aio::open_connection("127.0.0.1", 8888);
//   writer.write("hello\n");
//   co_await writer.drain();
//   std::string line = co_await reader.readline();
//   writer.close();
//   co_await writer.wait_closed();
//
// Cancel-safety: every read is cancel-safe — bytes that arrived before the cancellation stay
// in the stream's buffer for the next read (Tokio's read_exact, by contrast, loses them).
// Writes never block; drain() and wait_closed() may be cancelled at any point without losing
// queued bytes (the queue keeps flushing).
#pragma once

#include <aio/detail/algorithm.hpp>
#include <aio/detail/chrono.hpp>
#include <aio/detail/deferred.hpp>
#include <aio/detail/stream_transport.hpp>
#include <aio/dns.hpp>
#include <aio/errors.hpp>
#include <aio/event_loop.hpp>
#include <aio/run.hpp>
#include <aio/socket.hpp>
#include <aio/socket_address.hpp>
#include <aio/task.hpp>
#include <aio/wait.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace aio {

/// Reads from a connection (asyncio.StreamReader). A copyable handle: copies share the stream.
/// Reads are Task<std::string>, except read_into (appends to the caller's string); one task
/// reads a stream at a time (a second concurrent read throws aio::RuntimeError, as asyncio).
/// Every read is cancel-safe.
class StreamReader {
public:
    StreamReader() noexcept = default;
    explicit StreamReader(detail::TransportRef transport) noexcept
        : transport_(std::move(transport)) {}

    /// Up to `n` bytes (as soon as any are available); `n < 0` reads to end of file. Empty at
    /// end of file. Throws std::system_error when the connection failed (ECONNRESET) and the
    /// buffer is empty.
    template <class D = void> // templates, as the coroutines below: compiled only where used
    Task<std::string> read(std::ptrdiff_t n = -1) {
        return read_task<D>(checked("read"), n);
    }

    /// `co_await read_into(buffer, n)`: appends up to `n` bytes to `buffer` (as soon as any
    /// are available; what `buffer` held stays in front) and returns how many, 0 at end of file
    /// (and for `n` == 0). read() without an allocation: the bytes are appended to the caller's
    /// string, which keeps its capacity from read to read — for a loop that parses what it has
    /// and keeps an incomplete rest. Throws std::system_error when the connection failed
    /// (ECONNRESET) and the buffer is empty; aio::RuntimeError while another task reads the
    /// stream. Cancel-safe: a cancelled read_into appends nothing, and what arrived stays in
    /// the stream for the next read (a cancellation already pending is delivered before
    /// anything is taken).
    auto read_into(std::string& buffer, std::size_t n) {
        return detail::StreamTransport::ReadInto(*checked("read_into"), buffer, n);
    }

    /// Through the next "\n" (included), or what is left at end of file (empty at EOF).
    /// Throws aio::LimitOverrunError when no "\n" comes within the limit — the data stays in
    /// the stream (asyncio's readline discards it and raises ValueError): read(e.consumed())
    /// skips it, or raise the limit (ServerOptions / ConnectOptions `.limit`).
    template <class D = void>
    Task<std::string> readline() {
        return readline_task<D>(checked("readline"));
    }

    /// Exactly `n` bytes. Throws aio::IncompleteReadError (partial(), expected()) when the
    /// stream ends first; std::system_error when the connection fails first (the bytes stay).
    template <class D = void>
    Task<std::string> readexactly(std::size_t n) {
        return readexactly_task<D>(checked("readexactly"), n);
    }

    /// Through `separator` (included). Throws aio::LimitOverrunError (consumed()) when it does
    /// not come within the limit, leaving the data in the stream; aio::IncompleteReadError
    /// (partial() holds the rest) at end of file; aio::ValueError for an empty separator.
    template <class D = void>
    Task<std::string> readuntil(std::string separator = "\n") {
        return readuntil_task<D>(checked("readuntil"), std::move(separator));
    }

    /// True once the peer's end of file was seen and the buffer is empty.
    bool at_eof() const noexcept { return transport_ && transport_->at_eof(); }
    /// Bytes already received and not yet read.
    std::size_t buffered() const noexcept { return transport_ ? transport_->buffer().size() : 0; }
    /// The most readline / readuntil look through for their separator (64 KiB by default).
    std::size_t limit() const noexcept { return transport_ ? transport_->limit() : 0; }
    explicit operator bool() const noexcept { return static_cast<bool>(transport_); }

private:
    const detail::TransportRef& checked(const char* what) const {
        if (!transport_)
            throw RuntimeError(std::string(what) + "() on an empty StreamReader");
        return transport_;
    }

    // Templates so that only units that read compile them (g++ emits every non-template
    // inline coroutine). Each holds its own reference: the stream outlives the read.
    struct ReadScope {
        ReadScope(detail::StreamTransport& t, const char* what) : t(t) { t.begin_read(what); }
        ~ReadScope() { t.end_read(); }
        detail::StreamTransport& t;
    };

    template <class D = void>
    static Task<std::string> read_task(detail::TransportRef ref, std::ptrdiff_t n) {
        detail::StreamTransport& t = *ref;
        ReadScope scope(t, "read");
        if (n == 0)
            co_return std::string();
        if (n < 0) {
            while (!t.eof() && !t.failed())
                co_await t.fill(std::max(t.limit(), t.buffer().size()));
            if (t.failed())
                t.throw_read_error();
            co_return t.buffer().take(t.buffer().size());
        }
        const auto want = static_cast<std::size_t>(n);
        if (t.buffer().empty() && !t.eof())
            co_await t.fill(want);
        co_return t.buffer().take(std::min(want, t.buffer().size()));
    }

    template <class D = void>
    static Task<std::string> readexactly_task(detail::TransportRef ref, std::size_t n) {
        detail::StreamTransport& t = *ref;
        ReadScope scope(t, "readexactly");
        while (t.buffer().size() < n) {
            if (t.eof())
                throw IncompleteReadError(t.buffer().take(t.buffer().size()), n);
            if (t.failed())
                t.throw_read_error();
            co_await t.fill(n - t.buffer().size());
        }
        co_return t.buffer().take(n);
    }

    template <class D = void>
    static Task<std::string> readuntil_task(detail::TransportRef ref, std::string separator) {
        detail::StreamTransport& t = *ref;
        ReadScope scope(t, "readuntil");
        co_return co_await until<D>(t, separator);
    }

    template <class D = void>
    static Task<std::string> readline_task(detail::TransportRef ref) {
        detail::StreamTransport& t = *ref;
        ReadScope scope(t, "readline");
        try {
            co_return co_await until<D>(t, "\n");
        } catch (const IncompleteReadError& e) {
            co_return e.partial();
        }
    }

    template <class D = void>
    static Task<std::string> until(detail::StreamTransport& t, std::string_view separator) {
        if (separator.empty())
            throw ValueError("readuntil(): the separator must not be empty");
        std::size_t offset = 0; // where the search resumes: what was searched holds no separator
        for (;;) {
            const std::string_view have = t.buffer().view();
            const std::size_t found = have.find(separator, offset);
            if (found != std::string_view::npos) {
                if (found > t.limit())
                    throw_overrun(t, separator, found, true);
                co_return t.buffer().take(found + separator.size());
            }
            if (have.size() >= separator.size())
                offset = have.size() - separator.size() + 1;
            if (have.size() > t.limit())
                throw_overrun(t, separator, offset, false);
            if (t.eof())
                throw IncompleteReadError(t.buffer().take(have.size()), 0);
            if (t.failed())
                t.throw_read_error();
            co_await t.fill(t.limit() + separator.size() - have.size());
        }
    }

    [[noreturn]] static void throw_overrun(const detail::StreamTransport& t,
                                           std::string_view separator, std::size_t consumed,
                                           bool found) {
        std::string shown;
        for (char c : separator)
            shown += c == '\n'   ? std::string("\\n")
                     : c == '\r' ? std::string("\\r")
                                 : std::string(1, c);
        throw LimitOverrunError(
            (found ? "the separator \"" + shown + "\" was found, but after " +
                         std::to_string(consumed) + " bytes, more than the stream's limit of "
                   : "no separator \"" + shown + "\" within the stream's limit of ") +
                std::to_string(t.limit()) +
                " bytes; the data stays in the stream: read(e.consumed()) to skip it, or raise "
                "the limit (ServerOptions{.limit = ...} or ConnectOptions{.limit = ...})",
            consumed);
    }

    detail::TransportRef transport_;
};

/// Writes to a connection (asyncio.StreamWriter). A copyable handle: copies share the stream;
/// when the last handle (reader or writer) goes, the stream is closed as close() does.
class StreamWriter {
public:
    StreamWriter() noexcept = default;
    explicit StreamWriter(detail::TransportRef transport) noexcept
        : transport_(std::move(transport)) {}

    /// Queues `data` and never blocks: when nothing is queued, the first write of a loop turn
    /// goes to the socket at once; later writes of the turn are sent together (one sendmsg) at
    /// the end of the turn. Copies at most once. Throws aio::RuntimeError after write_eof() or
    /// close(). After the connection was lost the bytes are dropped and drain() throws.
    void write(std::string_view data) { checked("write").write(data); }
    /// As write(string_view); a large string the kernel does not take at once is queued as it
    /// is, without a copy: `writer.write(std::move(data))`.
    void write(std::string&& data) { checked("write").write(std::move(data)); }
    void write(const char* data) { checked("write").write(std::string_view(data)); }

    /// write() of each element of `lines` (anything convertible to std::string_view), sent
    /// together.
    template <class Range>
    void writelines(const Range& lines) {
        detail::StreamTransport& t = checked("writelines");
        for (const auto& line : lines)
            t.write(std::string_view(line));
    }

    /// `co_await drain()`: waits while more than the high-water mark (64 KiB) is queued, until
    /// it is down to the low-water mark (16 KiB); always yields once, so a write loop lets the
    /// loop run and notices a lost connection (asyncio's drain may never yield). Throws the
    /// connection's error (std::system_error: EPIPE, ECONNRESET) once it is lost, and
    /// ECONNRESET when called after close() or abort() (as asyncio); a drain already waiting
    /// when the stream is closed returns once it is.
    /// Cancel-safe: cancelling it loses nothing queued.
    auto drain() { return detail::StreamTransport::Drain(checked("drain")); }

    /// Shuts the write side down (the peer reads end of file) once the queue is flushed; the
    /// read side stays open. A no-op after close().
    void write_eof() { checked("write_eof").write_eof(); }
    /// True: TCP and Unix stream sockets can half-close.
    bool can_write_eof() const noexcept { return true; }

    /// Flushes what is queued, then closes the connection (pending reads see end of file).
    /// Idempotent. Does not wait: co_await wait_closed() for that.
    void close() {
        if (transport_)
            transport_->close();
    }
    /// Closes at once, discarding what is queued. Idempotent.
    void abort() noexcept {
        if (transport_)
            transport_->abort();
    }
    /// `co_await wait_closed()`: until the connection is closed. Throws the error that lost the
    /// connection (std::system_error), if one did. Cancel-safe.
    auto wait_closed() { return checked("wait_closed").wait_closed(); }
    /// True once close() or abort() was called, or the connection was closed.
    bool is_closing() const noexcept { return !transport_ || transport_->is_closing(); }

    /// Bytes queued and not yet taken by the kernel.
    std::size_t transport_buffer_size() const noexcept {
        return transport_ ? transport_->write_buffer_size() : 0;
    }
    /// drain() waits above `high` until the queue is down to `low` (default high / 4). Throws
    /// aio::ValueError when low > high.
    void set_write_buffer_limits(std::size_t high, std::optional<std::size_t> low = std::nullopt) {
        checked("set_write_buffer_limits").set_write_buffer_limits(high, low.value_or(high / 4));
    }
    /// {high, low}.
    std::pair<std::size_t, std::size_t> get_write_buffer_limits() const {
        const detail::StreamTransport& t = checked("get_write_buffer_limits");
        return {t.high_water(), t.low_water()};
    }

    /// The peer's address (std::system_error if unknown and the socket is closed).
    SocketAddress peername() const { return checked("peername").peername(); }
    /// The local address.
    SocketAddress sockname() const { return checked("sockname").sockname(); }
    /// The socket's fd (-1 once closed).
    int fd() const noexcept { return transport_ ? transport_->fd() : -1; }
    explicit operator bool() const noexcept { return static_cast<bool>(transport_); }

private:
    detail::StreamTransport& checked(const char* what) const {
        if (!transport_)
            throw RuntimeError(std::string(what) + "() on an empty StreamWriter");
        return *transport_;
    }

    detail::TransportRef transport_;
};

/// What open_connection returns: `auto [reader, writer] = co_await aio::open_connection(...)`.
struct Connection {
    StreamReader reader;
    StreamWriter writer;
};

/// Options of open_connection / open_unix_connection.
struct ConnectOptions {
    /// readline / readuntil look this far for their separator (asyncio's limit).
    std::size_t limit = detail::default_stream_limit;
    /// Bind to this address before connecting (empty: let the OS choose).
    SocketAddress local_addr{};
    /// Happy Eyeballs (RFC 8305): when a name resolves to several addresses, start the next
    /// attempt this long after the previous one if it has not succeeded yet, and keep the
    /// first that connects. Unset: one address after the other (asyncio's default).
    std::optional<std::chrono::milliseconds> happy_eyeballs_delay = std::nullopt;
};

namespace detail {

/// Wraps a connected socket in a stream pair on the running loop.
template <class D = void> // compiled only where used
Connection make_connection(Socket socket, std::size_t limit, StreamKind kind,
                           std::optional<SocketAddress> peer) {
    LoopCore& loop = LoopAccess::core(get_running_loop());
    loop.io().forget_if_replaced(socket.fd()); // an fd the user made may reuse a stale number
    auto* transport = new StreamTransport(loop, socket.fd(), kind, limit, std::move(peer));
    socket.release();
    TransportRef ref(transport);
    return Connection{StreamReader(ref), StreamWriter(ref)};
}

/// One connection attempt: a socket of the address's family, bound to `local` if given.
template <class D = void>
Task<deferred_t<D, Socket>> connect_to(SocketAddress address, SocketAddress local) {
    Socket socket =
        address.family() == AF_UNIX ? Socket::unix_stream() : Socket::tcp(address.family());
    if (!local.empty()) {
        socket.set_option(SOL_SOCKET, SO_REUSEADDR, 1);
        socket.bind(local);
    }
    co_await get_running_loop().sock_connect(socket, address);
    co_return std::move(socket);
}

/// RFC 8305's order: alternate the families, starting with the first one returned.
template <class D = void>
std::vector<deferred_t<D, SocketAddress>>
interleave_families(const std::vector<SocketAddress>& addresses) {
    std::vector<deferred_t<D, SocketAddress>> first, second, out;
    for (const SocketAddress& a : addresses)
        (a.family() == addresses.front().family() ? first : second).push_back(a);
    for (std::size_t i = 0; i < std::max(first.size(), second.size()); ++i) {
        if (i < first.size())
            out.push_back(first[i]);
        if (i < second.size())
            out.push_back(second[i]);
    }
    return out;
}

template <class D = void>
Task<deferred_t<D, Socket>> connect_any(std::vector<SocketAddress> addresses,
                                        ConnectOptions options);

template <class D = void>
Task<deferred_t<D, Connection>> open_connection_task(std::string host, std::uint16_t port,
                                                     ConnectOptions options) {
    std::vector<deferred_t<D, SocketAddress>> addresses;
    if (auto numeric = SocketAddress::numeric(host, port)) {
        addresses.push_back(*numeric);
    } else {
        AddrInfoHints hints;
        hints.type = SOCK_STREAM;
        const std::vector<AddrInfo> infos =
            co_await deferred<D>(get_running_loop()).getaddrinfo(host, port, hints);
        for (const AddrInfo& info : infos)
            if (!contains(addresses, info.address))
                addresses.push_back(info.address);
        if (addresses.empty())
            throw std::system_error(EHOSTUNREACH, std::system_category(),
                                    "getaddrinfo(" + host + ") returned no address to connect to");
    }
    const std::size_t limit = options.limit;
    Socket socket = co_await connect_any<D>(std::move(addresses), std::move(options));
    std::optional<SocketAddress> peer; // for the streams' error messages
    try {
        peer = socket.peername();
    } catch (const std::system_error&) { // reset already: the first read says so
    }
    co_return make_connection<D>(std::move(socket), limit, StreamKind::socket, std::move(peer));
}

template <class D = void>
Task<deferred_t<D, Connection>> open_unix_connection_task(std::string path,
                                                          ConnectOptions options) {
    const SocketAddress address = SocketAddress::unix_path(path);
    Socket socket = co_await connect_to<D>(address, options.local_addr);
    co_return make_connection<D>(std::move(socket), options.limit, StreamKind::socket, address);
}

template <class D>
Task<deferred_t<D, Socket>> connect_any(std::vector<SocketAddress> addresses,
                                        ConnectOptions options) {
    std::exception_ptr last;
    if (!options.happy_eyeballs_delay || addresses.size() < 2) {
        for (const SocketAddress& address : addresses) {
            try {
                co_return co_await connect_to<D>(address, options.local_addr);
            } catch (const std::system_error&) {
                last = std::current_exception();
            }
        }
        std::rethrow_exception(last);
    }
    // Happy Eyeballs: a new attempt every `delay` (or as soon as one fails), first success wins.
    addresses = interleave_families<D>(addresses);
    std::vector<Task<deferred_t<D, Socket>>> running;
    struct CancelLosers {
        std::vector<Task<deferred_t<D, Socket>>>& tasks;
        ~CancelLosers() {
            for (auto& task : tasks)
                if (!task.done())
                    task.cancel();
        }
    } cancel_losers{running};
    std::size_t next = 0;
    for (;;) {
        if (next < addresses.size())
            running.push_back(
                deferred<D>(get_running_loop())
                    .create_task(connect_to<D>(addresses[next++], options.local_addr)));
        std::optional<Clock::duration> timeout;
        if (next < addresses.size())
            timeout = *options.happy_eyeballs_delay;
        WaitResult<deferred_t<D, Socket>> result =
            co_await aio::wait(deferred<D>(running), ReturnWhen::first_completed, timeout);
        running = std::move(result.pending);
        for (auto& finished : result.done) {
            try {
                co_return co_await std::move(finished);
            } catch (const std::system_error&) {
                last = std::current_exception();
            }
        }
        if (running.empty() && next == addresses.size())
            std::rethrow_exception(last);
    }
}

template <class D = void>
Task<deferred_t<D, Connection>> adopt_connection_task(Socket connected, std::size_t limit) {
    co_return make_connection<D>(std::move(connected), limit, StreamKind::socket, std::nullopt);
}

} // namespace detail

/// Connects to `host`:`port` (a numeric address, or a name resolved with loop.getaddrinfo off
/// the loop) and returns the stream pair (asyncio.open_connection). Tries each address in
/// turn (or staggered, with `happy_eyeballs_delay`); throws std::system_error with the last
/// error (ECONNREFUSED, ETIMEDOUT... naming the address) or gai's (a bad name). Cancel-safe:
/// a cancelled connect closes its socket and leaves no registration.
template <class D = void>
Task<Connection> open_connection(std::string host, std::uint16_t port,
                                 ConnectOptions options = {}) {
    return detail::open_connection_task<D>(std::move(host), port, std::move(options));
}

/// Wraps a socket that is already connected (from socketpair(), sock_accept, sock_connect) in
/// a stream pair (asyncio's open_connection(sock=...)); the streams own it from then on.
template <class D = void>
Task<Connection> open_connection(Socket connected, ConnectOptions options = {}) {
    return detail::adopt_connection_task<D>(std::move(connected), options.limit);
}

/// Connects to the Unix-domain socket at `path` (asyncio.open_unix_connection). Throws
/// std::system_error (ENOENT, ECONNREFUSED...) naming the path; aio::ValueError for a path
/// too long. Cancel-safe as open_connection.
template <class D = void>
Task<Connection> open_unix_connection(std::string path, ConnectOptions options = {}) {
    return detail::open_unix_connection_task<D>(std::move(path), std::move(options));
}

} // namespace aio
