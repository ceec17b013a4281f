// aio servers — asyncio's start_server / start_unix_server and Server.
//
//   aio::Task<> handle_client(aio::StreamReader reader, aio::StreamWriter writer);
//   aio::Server server = co_await aio::start_server(handle_client, "127.0.0.1", 8888);
//   co_await server.serve_forever();
//
// Each connection runs `handle_client` as a new task. A handler's exception goes to the loop's
// exception handler and never stops the server. Accepting is batched (up to 128 per readiness,
// then the loop gets a turn); when the process runs out of fds (EMFILE / ENFILE) the server
// reports it once and pauses accepting for 100 ms at a time, neither spinning nor dying.
//
// Shutting down, as asyncio 3.13: close() stops listening; close_clients() closes every
// connection (after flushing), abort_clients() drops them; wait_closed() returns once the
// server is closed and every connection has ended. asyncio 3.12's wait_closed() hung while
// clients stayed connected (cpython#104344) and 3.13 added the two calls; here the same rule
// holds, so a shutdown is `close(); close_clients(); co_await wait_closed();`.
#pragma once

#include <aio/detail/algorithm.hpp>
#include <aio/detail/chrono.hpp>
#include <aio/detail/deferred.hpp>
#include <aio/detail/intrusive_list.hpp>
#include <aio/detail/owned_wait.hpp>
#include <aio/detail/stream_transport.hpp>
#include <aio/errors.hpp>
#include <aio/event_loop.hpp>
#include <aio/io.hpp>
#include <aio/run.hpp>
#include <aio/sleep.hpp>
#include <aio/socket.hpp>
#include <aio/streams.hpp>
#include <aio/task.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace aio {

/// Options of start_server / start_unix_server.
struct ServerOptions {
    /// listen(2)'s backlog (libuv's and Tokio's default; asyncio's is 100).
    int backlog = 511;
    /// SO_REUSEPORT: several sockets (one loop per thread) listen on one port and the kernel
    /// spreads the connections. TCP only.
    bool reuse_port = false;
    /// readline / readuntil look this far for their separator, per connection.
    std::size_t limit = detail::default_stream_limit;
};

class Server;

namespace detail {

inline constexpr int accept_batch = 128;
inline constexpr auto accept_pause = std::chrono::milliseconds(100);

/// What a Server shares with its accept loops and connection tasks.
class ServerState final : public ConnectionSet, private LoopResource {
public:
    using Spawn = Task<> (*)(void* handler, StreamReader, StreamWriter);

    ServerState(LoopCore& loop, std::size_t limit) : loop_(&loop), limit_(limit) {
        LoopResource::on_loop_close = &loop_closing;
        loop.add_resource(*this);
    }
    ServerState(const ServerState&) = delete;
    ServerState& operator=(const ServerState&) = delete;

    void add_ref() noexcept { ++refs_; }
    void release() noexcept {
        if (--refs_ == 0)
            delete this;
    }

    template <class Handler>
    void set_handler(Handler handler) {
        auto* owned = new Handler(std::move(handler));
        handler_ = std::unique_ptr<void, void (*)(void*)>(
            owned, [](void* p) { delete static_cast<Handler*>(p); });
        spawn_ = [](void* h, StreamReader reader, StreamWriter writer) -> Task<> {
            return (*static_cast<Handler*>(h))(std::move(reader), std::move(writer));
        };
    }

    std::vector<Socket> listeners;
    std::vector<Task<>> accept_loops;
    std::string unix_path; // unlinked on close
    ino_t unix_inode = 0;

    bool serving() const noexcept { return !closed_; }
    bool closed() const noexcept { return closed_; }
    std::size_t connection_count() const noexcept { return connection_count_; }

    template <class D = void>
    void start_accepting();

    void close() {
        if (closed_)
            return;
        closed_ = true;
        for (Task<>& loop : accept_loops) {
            if (!loop.done()) {
                loop.cancel();
                TaskAccess::frame(loop)->quiet_at_close_ = true; // stopped on purpose
            }
        }
        accept_loops.clear();
        for (Socket& listener : listeners) // through this loop's driver, running or not
            loop_ ? void(loop_->io().close(listener.release())) : listener.close();
        listeners.clear();
        if (!unix_path.empty()) {
            struct stat st {};
            if (::stat(unix_path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
                st.st_ino == unix_inode)
                ::unlink(unix_path.c_str());
            unix_path.clear();
        }
        wake_all(stop_waiters_);
        wake_if_finished();
    }

    /// Every connection, closed (flush) or aborted. Closing one unlinks only that one, and the
    /// next is held meanwhile.
    void for_each_connection(void (*action)(StreamTransport&)) {
        StreamTransport* t = connections_;
        if (t)
            t->add_ref();
        while (t) {
            StreamTransport* next = t->set_next;
            if (next)
                next->add_ref();
            action(*t);
            t->release();
            t = next;
        }
    }

    /// Accepted `fd` from `peer`: a stream pair and a handler task. (A template, as the
    /// coroutines it starts: compiled only where a server is.)
    template <class D = void>
    void serve(int fd, const SocketAddress& peer) {
        auto* transport = new StreamTransport(*loop_, fd, StreamKind::socket, limit_, peer);
        TransportRef ref(transport);
        transport->join(*this);
        link_front<&StreamTransport::set_prev, &StreamTransport::set_next>(connections_,
                                                                           *transport);
        ++connection_count_;
        add_ref();
        loop_->loop().create_task<D>(run_client(ServerRef(this, false), std::move(ref)));
    }

    void on_connection_closed(StreamTransport& t) noexcept override {
        unlink<&StreamTransport::set_prev, &StreamTransport::set_next>(connections_, t);
        --connection_count_;
        wake_if_finished();
    }

    /// Reports an accept failure once per streak (EMFILE storms would flood otherwise).
    void report_accept_error(int error) noexcept {
        if (accept_error_reported_)
            return;
        accept_error_reported_ = true;
        const bool out_of_fds = error == EMFILE || error == ENFILE;
        loop_->call_exception_handler(
            {"accept() failed: " + std::system_category().message(error) +
                 (out_of_fds ? " — the process is out of file descriptors; the server pauses "
                               "accepting for 100 ms at a time until some are free (raise the "
                               "limit with `ulimit -n` / RLIMIT_NOFILE, or serve fewer "
                               "connections); reported once per streak"
                             : " — the server pauses accepting for 100 ms and retries"),
             std::make_exception_ptr(std::system_error(error, std::system_category(), "accept()")),
             {}});
    }
    void accept_succeeded() noexcept { accept_error_reported_ = false; }

    LoopCore& loop() const noexcept { return *loop_; }

    /// An accept loop runs for the scope (wait_closed also waits for them to end).
    class AcceptLoopScope {
    public:
        explicit AcceptLoopScope(ServerState& state) noexcept : state_(state) {
            ++state_.accept_loops_running_;
        }
        AcceptLoopScope(const AcceptLoopScope&) = delete;
        AcceptLoopScope& operator=(const AcceptLoopScope&) = delete;
        ~AcceptLoopScope() {
            --state_.accept_loops_running_;
            if (state_.loop_)
                state_.wake_if_finished();
        }

    private:
        ServerState& state_;
    };

    /// A counted reference.
    class ServerRef {
    public:
        ServerRef(ServerState* state, bool add) noexcept : state_(state) {
            if (add)
                state_->add_ref();
        }
        ServerRef(const ServerRef& other) noexcept : ServerRef(other.state_, true) {}
        ServerRef(ServerRef&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
        ServerRef& operator=(ServerRef other) noexcept {
            std::swap(state_, other.state_);
            return *this;
        }
        ~ServerRef() {
            if (state_)
                state_->release();
        }
        ServerState* operator->() const noexcept { return state_; }
        ServerState& operator*() const noexcept { return *state_; }
        explicit operator bool() const noexcept { return state_ != nullptr; }

    private:
        ServerState* state_;
    };

    OwnedWait<ServerState> wait_closed() noexcept {
        return OwnedWait<ServerState>(
            *this, closed_waiters_, [](const ServerState& s) { return s.finished(); }, nullptr,
            "wait_closed");
    }
    OwnedWait<ServerState> wait_stopped() noexcept {
        return OwnedWait<ServerState>(
            *this, stop_waiters_, [](const ServerState& s) { return s.closed_; }, nullptr,
            "serve_forever");
    }

private:
    ~ServerState() {
        // Connections may outlive the server (a handle kept elsewhere): they stop reporting.
        for (StreamTransport* t = connections_; t;) {
            StreamTransport* next = t->set_next;
            t->leave_set();
            t = next;
        }
        if (loop_)
            loop_->remove_resource(*this);
    }

    template <class D = void>
    static Task<> run_client(ServerRef state, TransportRef transport) {
        try {
            co_await state->spawn_(state->handler_.get(), StreamReader(transport),
                                   StreamWriter(transport));
        } catch (const CancelledError&) {
            throw;
        } catch (...) {
            std::string peer;
            try {
                peer = " (peer " + transport->peername().to_string() + ")";
            } catch (...) {
            }
            state->loop_->call_exception_handler(
                {"unhandled exception in a client connection handler" + peer +
                     "; the connection is aborted and the server goes on",
                 std::current_exception(),
                 {}});
            transport->abort();
        }
    }

    void wake_if_finished() {
        if (finished())
            wake_all(closed_waiters_);
    }
    bool finished() const noexcept {
        return closed_ && connection_count_ == 0 && accept_loops_running_ == 0;
    }

    static void loop_closing(LoopResource& resource) noexcept {
        auto& state = static_cast<ServerState&>(resource);
        state.add_ref();
        state.accept_loops.clear();
        state.closed_ = true;
        for (Socket& listener : state.listeners)
            state.loop_->io().close(listener.release());
        state.listeners.clear();
        state.loop_ = nullptr;
        state.release();
    }

    LoopCore* loop_;
    std::size_t limit_;
    std::uint32_t refs_ = 1;
    bool closed_ = false;
    bool accept_error_reported_ = false;
    std::unique_ptr<void, void (*)(void*)> handler_{nullptr, [](void*) {}};
    Spawn spawn_ = nullptr;
    StreamTransport* connections_ = nullptr;
    std::size_t connection_count_ = 0;
    std::size_t accept_loops_running_ = 0;
    WaitList closed_waiters_;
    WaitList stop_waiters_;
};

/// One listener's accept loop: waits until it is readable, then accepts up to accept_batch
/// connections (until EAGAIN), then lets the loop run. Out of fds: report, pause, retry.
template <class D = void>
Task<> accept_loop(ServerState::ServerRef state, int listener) {
    IoDriver& driver = state->loop().io();
    ServerState::AcceptLoopScope running(*state);
    for (;;) {
        co_await wait_readable(listener);
        bool more = true;
        while (more) {
            int accepted = 0;
            for (; accepted < accept_batch; ++accepted) {
                sockaddr_storage storage{};
                socklen_t length = sizeof storage;
                const int fd = io::accept_nonblocking(
                    listener, reinterpret_cast<sockaddr*>(&storage), &length);
                if (fd >= 0) {
                    state->accept_succeeded();
                    Socket connection = adopt_accepted(fd, storage.ss_family);
                    const SocketAddress peer =
                        length > 0 ? SocketAddress::from_native(
                                         reinterpret_cast<const sockaddr*>(&storage), length)
                                   : SocketAddress();
                    state->serve(connection.release(), peer);
                    continue;
                }
                const int error = errno;
                if (error == EINTR || error == ECONNABORTED || error == EPROTO)
                    continue;
                if (error == EAGAIN || error == EWOULDBLOCK) {
                    IoDriver::clear_ready(driver.registration(listener), IoDirection::read);
                    more = false;
                    break;
                }
                // EMFILE, ENFILE, ENOBUFS, ENOMEM...: the connection waits in the backlog.
                state->report_accept_error(error);
                co_await sleep(accept_pause);
                break;
            }
            if (more && accepted == accept_batch)
                co_await sleep(Clock::duration::zero()); // a fair turn for everything else
        }
    }
}

template <class D>
void ServerState::start_accepting() {
    for (Socket& listener : listeners)
        accept_loops.push_back(
            loop_->loop().create_task<D>(accept_loop(ServerRef(this, true), listener.fd())));
}

} // namespace detail

/// A listening server (asyncio.Server). Move-only; destroying it closes it (stops listening;
/// connections go on).
class Server {
public:
    Server() noexcept = default;
    explicit Server(detail::ServerState* state) noexcept : state_(state) {}
    Server(Server&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
    Server& operator=(Server&& other) noexcept {
        if (this != &other) {
            reset();
            state_ = std::exchange(other.state_, nullptr);
        }
        return *this;
    }
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;
    ~Server() { reset(); }

    /// The port of the first listening socket (what port 0 picked); 0 for a Unix server.
    std::uint16_t port() const {
        const auto all = sockets();
        return all.empty() ? 0 : all.front().sockname().port();
    }
    /// The listening sockets (empty once closed).
    std::span<const Socket> sockets() const {
        if (!state_)
            return {};
        return {state_->listeners.data(), state_->listeners.size()};
    }
    /// True until close().
    bool is_serving() const noexcept { return state_ && state_->serving(); }

    /// Stops listening (the listening sockets close, a Unix socket's file is removed); open
    /// connections go on. Idempotent.
    void close() {
        if (state_)
            state_->close();
    }
    /// Closes every open connection after flushing what it has queued (asyncio 3.13). Call
    /// close() first, so no new connection slips in.
    void close_clients() {
        if (state_)
            state_->for_each_connection([](detail::StreamTransport& t) { t.close(); });
    }
    /// Drops every open connection at once, discarding what is queued (asyncio 3.13).
    void abort_clients() {
        if (state_)
            state_->for_each_connection([](detail::StreamTransport& t) { t.abort(); });
    }
    /// Open connections.
    std::size_t connection_count() const noexcept {
        return state_ ? state_->connection_count() : 0;
    }

    /// `co_await wait_closed()`: until close() was called and every connection has ended (use
    /// close_clients() / abort_clients() to end them). Cancel-safe.
    auto wait_closed() { return checked("wait_closed").wait_closed(); }

    /// `co_await serve_forever()`: serves until close() is called (then returns) or the
    /// awaiting task is cancelled (then closes the server and rethrows CancelledError).
    /// Connections are left to their handlers.
    template <class D = void>
    Task<> serve_forever() {
        detail::ServerState::ServerRef state(&checked("serve_forever"), true);
        try {
            co_await state->wait_stopped();
        } catch (const CancelledError&) {
            state->close();
            throw;
        }
    }

private:
    detail::ServerState& checked(const char* what) const {
        if (!state_)
            throw RuntimeError(std::string(what) + "() on an empty Server");
        return *state_;
    }
    void reset() noexcept {
        if (auto* state = std::exchange(state_, nullptr)) {
            try {
                state->close();
            } catch (...) {
            }
            state->release();
        }
    }

    detail::ServerState* state_ = nullptr;
};

namespace detail {

template <class D = void> // compiled only where used
Socket make_listener(const SocketAddress& address, const ServerOptions& options, bool dual_stack) {
    Socket socket = Socket::open(address.family(), SOCK_STREAM);
    if (address.family() != AF_UNIX) {
        socket.set_option(SOL_SOCKET, SO_REUSEADDR, 1);
        if (options.reuse_port)
            socket.set_reuse_port();
        if (address.family() == AF_INET6)
            socket.set_option(IPPROTO_IPV6, IPV6_V6ONLY, dual_stack ? 0 : 1);
    }
    socket.bind(address);
    socket.listen(options.backlog);
    return socket;
}

template <class Handler>
Server make_server(Handler handler, std::vector<Socket> listeners, const ServerOptions& options,
                   std::string unix_path = {}) {
    LoopCore& loop = LoopAccess::core(get_running_loop());
    auto* state = new ServerState(loop, options.limit);
    Server server(state);
    state->set_handler(std::move(handler));
    state->listeners = std::move(listeners);
    if (!unix_path.empty()) {
        struct stat st {};
        if (::stat(unix_path.c_str(), &st) == 0)
            state->unix_inode = st.st_ino;
        state->unix_path = std::move(unix_path);
    }
    state->start_accepting();
    return server;
}

template <class Handler>
Task<deferred_t<Handler, Server>> start_server_task(Handler handler, std::string host,
                                                    std::uint16_t port, ServerOptions options) {
    std::vector<deferred_t<Handler, Socket>> listeners;
    if (host.empty() || host == "::") {
        // Every interface, IPv6 and IPv4 on one dual-stack socket (one port, even for port 0).
        try {
            listeners.push_back(make_listener<Handler>(SocketAddress("::", port), options, true));
        } catch (const std::system_error& e) {
            if (!host.empty() ||
                (e.code().value() != EAFNOSUPPORT && e.code().value() != EADDRNOTAVAIL))
                throw;
            listeners.push_back(
                make_listener<Handler>(SocketAddress("0.0.0.0", port), options, false));
        }
    } else if (auto numeric = SocketAddress::numeric(host, port)) {
        listeners.push_back(make_listener<Handler>(*numeric, options, false));
    } else {
        AddrInfoHints hints;
        hints.type = SOCK_STREAM;
        hints.flags = AI_PASSIVE;
        const std::vector<AddrInfo> infos =
            co_await deferred<Handler>(get_running_loop()).getaddrinfo(host, port, hints);
        std::vector<deferred_t<Handler, SocketAddress>> seen;
        for (const AddrInfo& info : infos) {
            if (contains(seen, info.address))
                continue;
            seen.push_back(info.address);
            SocketAddress address = info.address;
            if (port == 0 && !listeners.empty()) // one port for every address (asyncio: one each)
                address = SocketAddress(address.host(), listeners.front().sockname().port());
            listeners.push_back(make_listener<Handler>(address, options, false));
        }
        if (listeners.empty())
            throw std::system_error(EADDRNOTAVAIL, std::system_category(),
                                    "getaddrinfo(" + host + ") gave no address to listen on");
    }
    co_return make_server(std::move(handler), std::move(listeners), options);
}

template <class Handler>
Task<deferred_t<Handler, Server>> start_unix_server_task(Handler handler, std::string path,
                                                         ServerOptions options) {
    const SocketAddress address = SocketAddress::unix_path(path);
    // A socket file left by an earlier run is removed (asyncio does too); anything else is not.
    struct stat st {};
    if (path.front() != '\0' && ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode))
        ::unlink(path.c_str());
    std::vector<deferred_t<Handler, Socket>> listeners;
    listeners.push_back(make_listener<Handler>(address, options, false));
    co_return make_server(std::move(handler), std::move(listeners), options, std::move(path));
}

} // namespace detail

/// Listens on `host`:`port` and runs `handler(StreamReader, StreamWriter)` (returning
/// aio::Task<>) as a new task per connection (asyncio.start_server). `host`: a numeric
/// address, a name (every address it resolves to, on one port), or "" / "::" for every
/// interface over IPv6 and IPv4 (one dual-stack socket); "0.0.0.0" is IPv4 only. Port 0 picks
/// a free port: server.port(). SO_REUSEADDR is on; ServerOptions{.reuse_port = true} lets one
/// loop per thread share the port. Throws std::system_error (EADDRINUSE, EACCES...) naming the
/// address. The handler (a function or a lambda, which the server keeps alive) owns its
/// connection: when it returns and drops its reader and writer, the connection is flushed and
/// closed; an exception from it is reported to the loop's exception handler and aborts that
/// connection only.
template <class Handler>
Task<Server> start_server(Handler handler, std::string host, std::uint16_t port,
                          ServerOptions options = {}) {
    return detail::start_server_task(std::move(handler), std::move(host), port, options);
}

/// start_server on a Unix-domain socket at `path` (asyncio.start_unix_server). A stale socket
/// file there is replaced; close() removes the file. Throws std::system_error (EADDRINUSE,
/// EACCES...), aio::ValueError for a path too long.
template <class Handler>
Task<Server> start_unix_server(Handler handler, std::string path, ServerOptions options = {}) {
    return detail::start_unix_server_task(std::move(handler), std::move(path), options);
}

} // namespace aio
