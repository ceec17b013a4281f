// chat_server.cpp — a line-based chat server: whatever a client writes goes to every other
// client, and a client that does not read cannot slow the others down.
//
// The protocol: a client's first line is its nickname; each later line is a message, which
// the others receive as "nick: message". Joins, departures and drops are announced as "* ..."
// lines.
//
// Each client has an outgoing aio::Queue, bounded, and a writer task of its own that takes
// messages from it, writes them and drains. Broadcasting only puts messages into queues, with
// put_nowait, so it never waits for any client's socket. When a client's queue is full — the
// client has stopped reading, and its kernel buffers and stream buffer are full too — the
// server drops the client (closes its connection) instead of dropping messages for it: a
// chat's transcript with silent holes in it is worse than a disconnection the client can see
// and recover from by reconnecting (IRC servers do the same: "SendQ exceeded"). What a slow
// client can cost the server is bounded: its kernel send buffer (SO_SNDBUF 16 KiB, which Linux
// doubles), 16 KiB of stream buffer and 64 queued messages.
//
// `chat_server --port 8888` serves forever (try it with a few `nc 127.0.0.1 8888`). Without
// arguments it is a demo that ends: on a free port, three clients in the same process —
// alice and bob send 2000 messages each (in bursts of 100 lines) while reading everything,
// sleepy (a bare socket with a 4 KiB receive buffer) never reads. The server drops sleepy once its
// queue overflows and alice and bob still get every message of the other, in order.
//
// Output without arguments (the port varies, and so may the order of the two "left" lines):
//     chat server on 127.0.0.1:40123
//     * alice joined
//     * bob joined
//     * sleepy joined
//     * sleepy dropped: 64 messages waiting, it is not reading
//     alice: got all 2000 of bob's messages, in order
//     alice was told: * sleepy dropped (not reading)
//     bob: got all 2000 of alice's messages, in order
//     bob was told: * sleepy dropped (not reading)
//     * alice left
//     * bob left
//     sleepy: its connection was closed by the server
//     server closed

#include <aio/aio.hpp>

#include <fmt/core.h>

#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

using namespace std::chrono_literals;

namespace {

constexpr std::size_t max_queued_messages = 64;
constexpr int kernel_send_buffer = 16 * 1024;
constexpr std::size_t stream_write_buffer = 16 * 1024;

struct Client {
    std::string nick;
    aio::StreamWriter writer;
    aio::Queue<std::string> outbox{max_queued_messages};
    bool dropped = false;
};

class ChatRoom {
public:
    // The connection handler (one task per client).
    aio::Task<> serve(aio::StreamReader reader, aio::StreamWriter writer) {
        // A fixed send buffer: the kernel would otherwise let it grow to megabytes for a
        // client that does not read, and that client's backlog would not be bounded.
        ::setsockopt(writer.fd(), SOL_SOCKET, SO_SNDBUF, &kernel_send_buffer,
                     sizeof kernel_send_buffer);
        writer.set_write_buffer_limits(stream_write_buffer);

        std::string nick;
        try {
            nick = without_newline(co_await reader.readline());
        } catch (const std::exception&) { // reset, or 64 KiB without a newline: not a chat client
        }
        if (nick.empty())
            co_return; // left before saying who it is: the connection closes with the handles

        auto client = std::make_shared<Client>();
        client->nick = nick;
        client->writer = writer;
        client->outbox.put_nowait("* welcome " + nick + ", here: " + nicks() + "\n");
        broadcast("* " + nick + " joined\n", *client);
        clients_.push_back(client);
        fmt::print("* {} joined\n", nick);
        aio::Task<> sender = aio::create_task(send_loop(client));

        try {
            while (!client->dropped) {
                std::string line = co_await reader.readline(); // "" at end of file
                if (line.empty())
                    break;
                broadcast(nick + ": " + without_newline(line) + "\n", *client);
                // Readline returns lines already buffered without suspending, so without this
                // yield one sender's burst would fill the others' queues before their writer
                // tasks got a turn: a fast reader would be dropped as if it were slow.
                co_await aio::sleep(0s);
            }
        } catch (const aio::LimitOverrunError&) { // a line longer than 64 KiB: not a chat client
        } catch (const std::system_error&) {      // connection reset
        }

        std::erase(clients_, client);
        if (!client->dropped) {
            fmt::print("* {} left\n", nick);
            broadcast("* " + nick + " left\n", *client);
        }
        client->outbox.shutdown(); // the writer task sends what is queued, then stops
        co_await sender;
        writer.close();
        try {
            co_await writer.wait_closed();
        } catch (const std::system_error&) { // the connection was lost: nothing left to do
        }
    }

private:
    // The client's writer task: its own pace, whatever the others'.
    static aio::Task<> send_loop(std::shared_ptr<Client> client) {
        try {
            for (;;) {
                std::string line = co_await client->outbox.get();
                client->writer.write(line);
                co_await client->writer.drain(); // waits only while this client is behind
            }
        } catch (const aio::QueueShutDown&) { // the client left, or was dropped
        } catch (const std::system_error&) {  // the connection was lost: the reader sees it too
        } catch (const aio::RuntimeError&) {  // dropped while between get() and write()
        }
    }

    // Queues `line` for every client but `from`, and drops those that cannot take it.
    void broadcast(const std::string& line, const Client& from) {
        std::vector<std::shared_ptr<Client>> overflowing;
        for (const std::shared_ptr<Client>& client : clients_) {
            if (client.get() == &from)
                continue;
            try {
                client->outbox.put_nowait(line);
            } catch (const aio::QueueFull&) {
                overflowing.push_back(client);
            }
        }
        for (const std::shared_ptr<Client>& client : overflowing)
            drop(client);
    }

    void drop(std::shared_ptr<Client> client) {
        if (client->dropped)
            return;
        fmt::print("* {} dropped: {} messages waiting, it is not reading\n", client->nick,
                   client->outbox.qsize());
        client->dropped = true;
        std::erase(clients_, client);
        client->outbox.shutdown(true); // its writer task stops at once
        client->writer.abort();        // its handler's readline sees end of file
        broadcast("* " + client->nick + " dropped (not reading)\n", *client);
    }

    std::string nicks() const {
        std::string all;
        for (const std::shared_ptr<Client>& client : clients_)
            all += (all.empty() ? "" : ", ") + client->nick;
        return all.empty() ? "nobody else" : all;
    }

    static std::string without_newline(std::string line) {
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
            line.pop_back();
        return line;
    }

    std::vector<std::shared_ptr<Client>> clients_;
};

aio::Task<aio::Server> start_chat_server(ChatRoom& room, std::uint16_t port) {
    auto handler = [&room](aio::StreamReader reader, aio::StreamWriter writer) {
        return room.serve(std::move(reader), std::move(writer));
    };
    aio::Server server = co_await aio::start_server(handler, "127.0.0.1", port);
    fmt::print("chat server on 127.0.0.1:{}\n", server.port());
    co_return server;
}

aio::Task<> serve_forever(std::uint16_t port) {
    ChatRoom room;
    aio::Server server = co_await start_chat_server(room, port);
    co_await server.serve_forever();
}

// --- the demo's clients -----------------------------------------------------------------------

struct ChatClient {
    std::string nick;
    aio::StreamReader reader;
    aio::StreamWriter writer;
};

// Connects, says who it is and reads the welcome line.
aio::Task<ChatClient> join(std::string nick, std::uint16_t port) {
    auto [reader, writer] = co_await aio::open_connection("127.0.0.1", port);
    writer.write(nick + "\n");
    co_await reader.readline();
    co_return ChatClient{nick, reader, writer};
}

// Reads lines until `line` comes (a notice the demo waits for).
aio::Task<> wait_for_line(ChatClient& client, std::string line) {
    // (Not `while (co_await ... != line)`: g++ 12 miscompiles a co_await in a loop condition.)
    for (;;) {
        const std::string got = co_await client.reader.readline();
        if (got == line || got.empty())
            co_return;
    }
}

// Sends in bursts of 100 lines (as a paste would come), each burst with one write.
aio::Task<> send_messages(ChatClient& client, int count) {
    const std::string padding(80, '.');
    std::string burst;
    for (int i = 0; i < count; ++i) {
        burst += fmt::format("message {} {}\n", i, padding);
        if (i % 100 == 99 || i == count - 1) {
            client.writer.write(burst);
            burst.clear();
            co_await client.writer.drain();
        }
    }
}

// Reads until `count` messages of `from` came, checks their order; says what it got.
aio::Task<std::string> receive_messages(ChatClient& client, std::string from, int count) {
    const std::string prefix = from + ": message ";
    std::string report;
    int received = 0;
    bool in_order = true;
    while (received < count) {
        const std::string line = co_await client.reader.readline();
        if (line.empty())
            break; // the server closed the connection
        if (line.starts_with(prefix)) {
            in_order = in_order && std::atoi(line.c_str() + prefix.size()) == received;
            ++received;
        } else if (line.find("dropped") != std::string::npos) {
            report += fmt::format("{} was told: {}", client.nick, line);
        }
    }
    if (received == count && in_order)
        co_return fmt::format("{}: got all {} of {}'s messages, in order\n", client.nick, count,
                              from) +
            report;
    co_return fmt::format("{}: got {} of {}'s {} messages{}\n", client.nick, received, from, count,
                          in_order ? "" : ", out of order") +
        report;
}

aio::Task<std::string> talk(ChatClient& client, std::string other, int count) {
    auto [sent, report] =
        co_await aio::gather(send_messages(client, count), receive_messages(client, other, count));
    co_return report;
}

aio::Task<> demo() {
    constexpr int count = 2000;
    ChatRoom room;
    aio::Server server = co_await start_chat_server(room, 0);
    aio::EventLoop& loop = aio::get_running_loop();

    ChatClient alice = co_await join("alice", server.port());
    ChatClient bob = co_await join("bob", server.port());
    co_await wait_for_line(alice, "* bob joined\n");

    // sleepy never reads: a bare socket, with a small receive buffer so that it fills quickly.
    aio::Socket sleepy = aio::Socket::tcp();
    sleepy.set_option(SOL_SOCKET, SO_RCVBUF, 4096);
    const aio::SocketAddress address("127.0.0.1", server.port());
    co_await loop.sock_connect(sleepy, address);
    co_await loop.sock_sendall(sleepy, "sleepy\n");
    co_await wait_for_line(alice, "* sleepy joined\n");
    co_await wait_for_line(bob, "* sleepy joined\n");

    auto [alice_got, bob_got] =
        co_await aio::gather(talk(alice, "bob", count), talk(bob, "alice", count));
    fmt::print("{}{}", alice_got, bob_got);
    alice.writer.close();
    bob.writer.close();
    co_await alice.writer.wait_closed();
    co_await bob.writer.wait_closed();

    // What sleepy finds when it finally reads: what was on its way, then the end.
    std::string sink(64 * 1024, '\0');
    std::span<std::byte> buffer = std::as_writable_bytes(std::span(sink));
    try {
        for (;;) {
            const std::size_t n = co_await aio::wait_for(loop.sock_recv(sleepy, buffer), 5s);
            if (n == 0)
                break;
        }
    } catch (const std::system_error&) { // reset rather than closed: dropped all the same
    }
    fmt::print("sleepy: its connection was closed by the server\n");

    server.close();
    server.close_clients();
    co_await server.wait_closed();
    fmt::print("server closed\n");
}

} // namespace

int main(int argc, char** argv) {
    if (argc == 1) {
        aio::run(demo());
        return 0;
    }
    const unsigned long port = argc == 3 ? std::strtoul(argv[2], nullptr, 10) : 0;
    if (argc != 3 || std::string_view(argv[1]) != "--port" || port == 0 || port > 65535) {
        fmt::print(stderr, "usage: {} [--port N]\n", argv[0]);
        return 2;
    }
    aio::run(serve_forever(static_cast<std::uint16_t>(port)));
}
