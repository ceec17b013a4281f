// mini_redis — a Redis-compatible (RESP2) server in the shape of an asyncio program: a server,
// a task per client, a shared store, a pub/sub hub. redis-cli, redis-benchmark and redis-py
// talk to it as to a Redis.
//
//   mini_redis --port N [--maxclients N]     serve until SIGTERM / SIGINT (graceful)
//   mini_redis                               a self-contained demo that ends
//
// Commands: PING ECHO GET SET (EX PX NX XX) DEL EXISTS INCR DECR INCRBY DECRBY MGET MSET EXPIRE
// PEXPIRE TTL PTTL PERSIST DBSIZE FLUSHDB KEYS PUBLISH SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE
// PUNSUBSCRIBE QUIT COMMAND CONFIG; anything else is "-ERR unknown command".
//
// - Pipelining: every complete command in what was read is answered, the replies written in
//   one batch (one write, one drain).
// - Expiry: lazy on access, plus a sweep task every 100 ms (a heap of deadlines).
// - Bad input (a malformed frame, a bulk length over 64 MiB, a line of garbage longer than
//   64 KiB) gets "-ERR Protocol error: ..." and the connection is closed. A client that does
//   not read its replies stops being read from (drain), so it cannot make the server buffer
//   without bound; a subscriber more than 32 MiB behind is disconnected (Redis's pubsub
//   output buffer limit).
// - --maxclients (default 10000): a semaphore; the next client gets "-ERR max number of clients
//   reached" and is closed.
//
// Output without arguments (the port varies):
//     mini_redis on 127.0.0.1:40123
//     SET greeting hello -> +OK
//     GET greeting -> $hello
//     INCR counter x3 -> :3
//     SET session abc PX 50 -> +OK; PTTL > 0; after 100 ms GET -> (nil)
//     PUBLISH news hi -> :1 subscriber; it got: message news hi
//     FOO -> -ERR unknown command 'FOO', with args beginning with:
//     server stopped

#include "resp.hpp"
#include <aio/aio.hpp>

#include <fmt/core.h>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fnmatch.h>
#include <functional>
#include <queue>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

using namespace std::chrono_literals;

namespace {

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

bool parse_int(std::string_view text, std::int64_t& value) {
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    return ec == std::errc() && ptr == text.data() + text.size() && !text.empty();
}

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    return out;
}

// --- the store ---------------------------------------------------------------------------

struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>{}(s);
    }
};

struct Entry {
    std::string value;
    std::int64_t expires_at = 0; // ms on the steady clock; 0: never
};

/// Keys and values; expired keys go when touched, or when the sweep finds them.
class Store {
public:
    Entry* find(std::string_view key) {
        const auto it = map_.find(key);
        if (it == map_.end())
            return nullptr;
        if (it->second.expires_at != 0 && it->second.expires_at <= now_ms()) {
            map_.erase(it);
            return nullptr;
        }
        return &it->second;
    }
    Entry& set(std::string_view key, std::string_view value) {
        auto it = map_.find(key); // the key's name is copied only when it is new
        if (it == map_.end())
            it = map_.emplace(std::string(key), Entry{}).first;
        it->second.value.assign(value); // (keeps the old value's capacity)
        it->second.expires_at = 0;
        return it->second;
    }
    bool erase(std::string_view key) {
        const auto it = map_.find(key);
        if (it == map_.end())
            return false;
        map_.erase(it);
        return true;
    }
    void expire_at(std::string_view key, Entry& entry, std::int64_t when) {
        entry.expires_at = when;
        deadlines_.push({when, std::string(key)});
    }
    std::size_t size() const { return map_.size(); }
    void clear() {
        map_.clear();
        deadlines_ = {};
    }
    template <class F>
    void for_each_key(F&& f) {
        const std::int64_t now = now_ms();
        for (const auto& [key, entry] : map_)
            if (entry.expires_at == 0 || entry.expires_at > now)
                f(key);
    }

    /// Removes the keys whose deadline has passed (the heap may hold stale deadlines of keys
    /// that were rewritten since: those are skipped).
    std::size_t sweep() {
        const std::int64_t now = now_ms();
        std::size_t removed = 0;
        while (!deadlines_.empty() && deadlines_.top().when <= now) {
            const Deadline due = deadlines_.top();
            deadlines_.pop();
            const auto it = map_.find(due.key);
            if (it != map_.end() && it->second.expires_at != 0 && it->second.expires_at <= now) {
                map_.erase(it);
                ++removed;
            }
        }
        return removed;
    }

private:
    struct Deadline {
        std::int64_t when;
        std::string key;
        bool operator>(const Deadline& other) const { return when > other.when; }
    };
    std::unordered_map<std::string, Entry, StringHash, std::equal_to<>> map_;
    std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> deadlines_;
};

// --- pub/sub -----------------------------------------------------------------------------

struct Client {
    aio::StreamWriter writer;
    std::set<std::string, std::less<>> channels;
    std::set<std::string, std::less<>> patterns;
    std::size_t subscriptions() const { return channels.size() + patterns.size(); }
};

/// Who listens to what. Publishing writes into each subscriber's stream at once (write()
/// never waits); a subscriber too far behind is disconnected rather than buffered for.
class Hub {
public:
    static constexpr std::size_t max_backlog = 32 << 20;

    void subscribe(Client& client, std::string_view channel) {
        if (client.channels.emplace(channel).second)
            channels_[std::string(channel)].push_back(&client);
    }
    void unsubscribe(Client& client, std::string_view channel) {
        const auto it = client.channels.find(channel);
        if (it == client.channels.end())
            return;
        auto found = channels_.find(channel);
        std::erase(found->second, &client);
        if (found->second.empty())
            channels_.erase(found);
        client.channels.erase(it); // last: `channel` may be this very string
    }
    void psubscribe(Client& client, std::string_view pattern) {
        if (client.patterns.emplace(pattern).second)
            patterns_.emplace_back(std::string(pattern), &client);
    }
    void punsubscribe(Client& client, std::string_view pattern) {
        const auto it = client.patterns.find(pattern);
        if (it == client.patterns.end())
            return;
        std::erase_if(patterns_,
                      [&](const auto& p) { return p.second == &client && p.first == pattern; });
        client.patterns.erase(it); // last: `pattern` may be this very string
    }
    void forget(Client& client) {
        while (!client.channels.empty())
            unsubscribe(client, *client.channels.begin());
        while (!client.patterns.empty())
            punsubscribe(client, *client.patterns.begin());
    }

    /// Delivers `message`; returns how many subscribers got it.
    std::int64_t publish(std::string_view channel, std::string_view message) {
        std::int64_t receivers = 0;
        if (const auto it = channels_.find(channel); it != channels_.end()) {
            for (Client* client : it->second) {
                std::string out;
                resp::array(out, 3);
                resp::bulk(out, "message");
                resp::bulk(out, channel);
                resp::bulk(out, message);
                receivers += deliver(*client, std::move(out));
            }
        }
        const std::string channel_z(channel);
        for (const auto& [pattern, client] : patterns_) {
            if (::fnmatch(pattern.c_str(), channel_z.c_str(), 0) != 0)
                continue;
            std::string out;
            resp::array(out, 4);
            resp::bulk(out, "pmessage");
            resp::bulk(out, pattern);
            resp::bulk(out, channel);
            resp::bulk(out, message);
            receivers += deliver(*client, std::move(out));
        }
        return receivers;
    }

private:
    static bool deliver(Client& client, std::string message) {
        if (client.writer.is_closing())
            return false;
        if (client.writer.transport_buffer_size() > max_backlog) {
            client.writer.abort(); // its task sees the connection end and cleans up
            return false;
        }
        client.writer.write(std::move(message));
        return true;
    }

    std::unordered_map<std::string, std::vector<Client*>, StringHash, std::equal_to<>> channels_;
    std::vector<std::pair<std::string, Client*>> patterns_;
};

// --- commands ----------------------------------------------------------------------------

struct Server {
    Store store;
    Hub hub;
};

using Args = std::vector<std::string_view>;

/// One command's context: what it may touch, where its reply goes.
struct Call {
    Server& server;
    Client& client;
    const Args& args;
    std::string& out;
    bool quit = false;
};

void wrong_args(Call& c) {
    resp::error(c.out, "ERR wrong number of arguments for '" + lower(c.args[0]) + "' command");
}

void reply_value(Call& c, Entry* entry) {
    if (entry)
        resp::bulk(c.out, entry->value);
    else
        resp::null_bulk(c.out);
}

void cmd_ping(Call& c) {
    if (c.args.size() > 2)
        return wrong_args(c);
    if (c.client.subscriptions() > 0) { // RESP2 subscribed context: an array
        resp::array(c.out, 2);
        resp::bulk(c.out, "pong");
        resp::bulk(c.out, c.args.size() == 2 ? c.args[1] : "");
    } else if (c.args.size() == 2) {
        resp::bulk(c.out, c.args[1]);
    } else {
        resp::simple(c.out, "PONG");
    }
}

void cmd_echo(Call& c) {
    if (c.args.size() != 2)
        return wrong_args(c);
    resp::bulk(c.out, c.args[1]);
}

void cmd_get(Call& c) {
    if (c.args.size() != 2)
        return wrong_args(c);
    reply_value(c, c.server.store.find(c.args[1]));
}

void cmd_set(Call& c) {
    if (c.args.size() < 3)
        return wrong_args(c);
    std::int64_t ttl_ms = 0;
    bool nx = false, xx = false;
    for (std::size_t i = 3; i < c.args.size(); ++i) {
        const std::string option = lower(c.args[i]);
        if ((option == "ex" || option == "px") && i + 1 < c.args.size()) {
            std::int64_t n;
            if (!parse_int(c.args[++i], n))
                return resp::error(c.out, "ERR value is not an integer or out of range");
            if (n <= 0)
                return resp::error(c.out, "ERR invalid expire time in 'set' command");
            ttl_ms = option == "ex" ? n * 1000 : n;
        } else if (option == "nx") {
            nx = true;
        } else if (option == "xx") {
            xx = true;
        } else {
            return resp::error(c.out, "ERR syntax error");
        }
    }
    if (nx && xx)
        return resp::error(c.out, "ERR syntax error");
    const bool exists = c.server.store.find(c.args[1]) != nullptr;
    if ((nx && exists) || (xx && !exists))
        return resp::null_bulk(c.out);
    Entry& entry = c.server.store.set(c.args[1], c.args[2]);
    if (ttl_ms > 0)
        c.server.store.expire_at(c.args[1], entry, now_ms() + ttl_ms);
    resp::simple(c.out, "OK");
}

void cmd_del(Call& c) {
    if (c.args.size() < 2)
        return wrong_args(c);
    std::int64_t n = 0;
    for (std::size_t i = 1; i < c.args.size(); ++i)
        n += c.server.store.find(c.args[i]) && c.server.store.erase(c.args[i]);
    resp::integer(c.out, n);
}

void cmd_exists(Call& c) {
    if (c.args.size() < 2)
        return wrong_args(c);
    std::int64_t n = 0;
    for (std::size_t i = 1; i < c.args.size(); ++i)
        n += c.server.store.find(c.args[i]) != nullptr;
    resp::integer(c.out, n);
}

void increment(Call& c, std::string_view key, std::int64_t by) {
    Entry* entry = c.server.store.find(key);
    std::int64_t value = 0;
    if (entry && !parse_int(entry->value, value))
        return resp::error(c.out, "ERR value is not an integer or out of range");
    if ((by > 0 && value > INT64_MAX - by) || (by < 0 && value < INT64_MIN - by))
        return resp::error(c.out, "ERR increment or decrement would overflow");
    value += by;
    if (entry)
        entry->value = std::to_string(value); // keeps its expiry, as Redis
    else
        c.server.store.set(key, std::to_string(value));
    resp::integer(c.out, value);
}

void cmd_incr(Call& c) {
    if (c.args.size() != 2)
        return wrong_args(c);
    increment(c, c.args[1], 1);
}

void cmd_decr(Call& c) {
    if (c.args.size() != 2)
        return wrong_args(c);
    increment(c, c.args[1], -1);
}

void cmd_incrby(Call& c) {
    if (c.args.size() != 3)
        return wrong_args(c);
    std::int64_t by;
    if (!parse_int(c.args[2], by))
        return resp::error(c.out, "ERR value is not an integer or out of range");
    increment(c, c.args[1], by);
}

void cmd_decrby(Call& c) {
    if (c.args.size() != 3)
        return wrong_args(c);
    std::int64_t by;
    if (!parse_int(c.args[2], by) || by == INT64_MIN)
        return resp::error(c.out, "ERR value is not an integer or out of range");
    increment(c, c.args[1], -by);
}

void cmd_mget(Call& c) {
    if (c.args.size() < 2)
        return wrong_args(c);
    resp::array(c.out, c.args.size() - 1);
    for (std::size_t i = 1; i < c.args.size(); ++i)
        reply_value(c, c.server.store.find(c.args[i]));
}

void cmd_mset(Call& c) {
    if (c.args.size() < 3 || c.args.size() % 2 == 0)
        return wrong_args(c);
    for (std::size_t i = 1; i + 1 < c.args.size(); i += 2)
        c.server.store.set(c.args[i], c.args[i + 1]);
    resp::simple(c.out, "OK");
}

void expire(Call& c, std::int64_t unit_ms) {
    if (c.args.size() != 3)
        return wrong_args(c);
    std::int64_t n;
    if (!parse_int(c.args[2], n))
        return resp::error(c.out, "ERR value is not an integer or out of range");
    Entry* entry = c.server.store.find(c.args[1]);
    if (!entry)
        return resp::integer(c.out, 0);
    if (n <= 0)
        c.server.store.erase(c.args[1]);
    else
        c.server.store.expire_at(c.args[1], *entry, now_ms() + n * unit_ms);
    resp::integer(c.out, 1);
}

void cmd_expire(Call& c) {
    expire(c, 1000);
}
void cmd_pexpire(Call& c) {
    expire(c, 1);
}

void ttl(Call& c, std::int64_t unit_ms) {
    if (c.args.size() != 2)
        return wrong_args(c);
    const Entry* entry = c.server.store.find(c.args[1]);
    if (!entry)
        return resp::integer(c.out, -2);
    if (entry->expires_at == 0)
        return resp::integer(c.out, -1);
    const std::int64_t left = entry->expires_at - now_ms();
    resp::integer(c.out, (left + unit_ms / 2) / unit_ms); // rounded, as Redis
}

void cmd_ttl(Call& c) {
    ttl(c, 1000);
}
void cmd_pttl(Call& c) {
    ttl(c, 1);
}

void cmd_persist(Call& c) {
    if (c.args.size() != 2)
        return wrong_args(c);
    Entry* entry = c.server.store.find(c.args[1]);
    const bool had = entry && entry->expires_at != 0;
    if (had)
        entry->expires_at = 0;
    resp::integer(c.out, had);
}

void cmd_dbsize(Call& c) {
    resp::integer(c.out, static_cast<std::int64_t>(c.server.store.size()));
}

void cmd_flushdb(Call& c) {
    c.server.store.clear();
    resp::simple(c.out, "OK");
}

void cmd_keys(Call& c) {
    if (c.args.size() != 2)
        return wrong_args(c);
    const std::string pattern(c.args[1]);
    std::vector<std::string_view> keys;
    c.server.store.for_each_key([&](const std::string& key) {
        if (::fnmatch(pattern.c_str(), key.c_str(), 0) == 0)
            keys.push_back(key);
    });
    resp::array(c.out, keys.size());
    for (std::string_view key : keys)
        resp::bulk(c.out, key);
}

void cmd_publish(Call& c) {
    if (c.args.size() != 3)
        return wrong_args(c);
    resp::integer(c.out, c.server.hub.publish(c.args[1], c.args[2]));
}

/// The reply (P)SUBSCRIBE / (P)UNSUBSCRIBE give per channel: kind, channel, subscriptions.
void subscription_reply(Call& c, std::string_view kind, std::string_view channel, bool null) {
    resp::array(c.out, 3);
    resp::bulk(c.out, kind);
    if (null)
        resp::null_bulk(c.out);
    else
        resp::bulk(c.out, channel);
    resp::integer(c.out, static_cast<std::int64_t>(c.client.subscriptions()));
}

void cmd_subscribe(Call& c) {
    if (c.args.size() < 2)
        return wrong_args(c);
    for (std::size_t i = 1; i < c.args.size(); ++i) {
        c.server.hub.subscribe(c.client, c.args[i]);
        subscription_reply(c, "subscribe", c.args[i], false);
    }
}

void cmd_psubscribe(Call& c) {
    if (c.args.size() < 2)
        return wrong_args(c);
    for (std::size_t i = 1; i < c.args.size(); ++i) {
        c.server.hub.psubscribe(c.client, c.args[i]);
        subscription_reply(c, "psubscribe", c.args[i], false);
    }
}

void unsubscribe_from(Call& c, bool patterns) {
    const std::string_view kind = patterns ? "punsubscribe" : "unsubscribe";
    auto& mine = patterns ? c.client.patterns : c.client.channels;
    std::vector<std::string> names(c.args.begin() + 1, c.args.end());
    if (names.empty())
        names.assign(mine.begin(), mine.end());
    if (names.empty())
        return subscription_reply(c, kind, "", true);
    for (const std::string& name : names) {
        if (patterns)
            c.server.hub.punsubscribe(c.client, name);
        else
            c.server.hub.unsubscribe(c.client, name);
        subscription_reply(c, kind, name, false);
    }
}

void cmd_unsubscribe(Call& c) {
    unsubscribe_from(c, false);
}
void cmd_punsubscribe(Call& c) {
    unsubscribe_from(c, true);
}

void cmd_quit(Call& c) {
    resp::simple(c.out, "OK");
    c.quit = true;
}

/// redis-cli asks for COMMAND DOCS at start and redis-benchmark for CONFIG GET: an empty
/// answer tells them there is nothing to learn.
void cmd_empty_array(Call& c) {
    resp::array(c.out, 0);
}

using Handler = void (*)(Call&);

const std::unordered_map<std::string_view, Handler>& commands() {
    static const std::unordered_map<std::string_view, Handler> table{
        {"ping", cmd_ping},
        {"echo", cmd_echo},
        {"get", cmd_get},
        {"set", cmd_set},
        {"del", cmd_del},
        {"exists", cmd_exists},
        {"incr", cmd_incr},
        {"decr", cmd_decr},
        {"incrby", cmd_incrby},
        {"decrby", cmd_decrby},
        {"mget", cmd_mget},
        {"mset", cmd_mset},
        {"expire", cmd_expire},
        {"pexpire", cmd_pexpire},
        {"ttl", cmd_ttl},
        {"pttl", cmd_pttl},
        {"persist", cmd_persist},
        {"dbsize", cmd_dbsize},
        {"flushdb", cmd_flushdb},
        {"keys", cmd_keys},
        {"publish", cmd_publish},
        {"subscribe", cmd_subscribe},
        {"unsubscribe", cmd_unsubscribe},
        {"psubscribe", cmd_psubscribe},
        {"punsubscribe", cmd_punsubscribe},
        {"quit", cmd_quit},
        {"command", cmd_empty_array},
        {"config", cmd_empty_array},
    };
    return table;
}

bool allowed_while_subscribed(std::string_view name) {
    return name == "subscribe" || name == "unsubscribe" || name == "psubscribe" ||
           name == "punsubscribe" || name == "ping" || name == "quit";
}

void execute(Call& c) {
    const std::string name = lower(c.args[0]);
    const auto it = commands().find(name);
    if (it == commands().end()) {
        std::string message =
            "ERR unknown command '" + std::string(c.args[0]) + "', with args beginning with: ";
        for (std::size_t i = 1; i < c.args.size() && i < 4; ++i)
            message += "'" + std::string(c.args[i]) + "' ";
        return resp::error(c.out, message);
    }
    if (c.client.subscriptions() > 0 && !allowed_while_subscribed(name))
        return resp::error(c.out, "ERR Can't execute '" + name +
                                      "': only (P)SUBSCRIBE / (P)UNSUBSCRIBE / PING / QUIT are "
                                      "allowed in this context");
    it->second(c);
}

// --- connections -------------------------------------------------------------------------

constexpr std::size_t max_query_buffer = resp::max_bulk * 2; // what one client may make us hold

aio::Task<> discard_input(aio::StreamReader reader) {
    for (;;) {
        const std::string dropped = co_await reader.read(64 * 1024);
        if (dropped.empty())
            break;
    }
}

/// What a connection does after a protocol error: its reply is sent and the write side shut
/// (the client sees end of file), then what the client is still sending is read and dropped
/// for up to a second before the socket closes — closing with unread bytes would reset the
/// connection, and the client could lose the error reply (a "lingering close", as nginx).
aio::Task<> linger(aio::StreamReader reader, aio::StreamWriter writer) {
    writer.write_eof();
    try {
        co_await aio::wait_for(discard_input(reader), 1s);
    } catch (const aio::TimeoutError&) {
    } catch (const std::system_error&) {
    }
}

aio::Task<> serve_client(Server& server, aio::StreamReader reader, aio::StreamWriter writer) {
    Client client{writer, {}, {}};
    struct Leave { // the hub forgets the client however its task ends
        Server& server;
        Client& client;
        ~Leave() { server.hub.forget(client); }
    } leave{server, client};

    std::string in;
    Args args;
    std::string out; // the replies to what was read (its capacity is kept)
    bool protocol_error = false;
    for (;;) {
        const std::size_t received = co_await reader.read_into(in, 64 * 1024); // appends to `in`
        if (received == 0)
            break; // the client closed
        out.clear();
        std::size_t done = 0;
        bool quit = false;
        while (!quit) {
            const resp::Parsed parsed =
                resp::parse_command(std::string_view(in).substr(done), args);
            if (parsed.status == resp::Parse::incomplete)
                break;
            if (parsed.status == resp::Parse::error) {
                resp::error(out, "ERR Protocol error: " + std::string(parsed.error));
                quit = protocol_error = true;
                break;
            }
            done += parsed.consumed;
            if (args.empty())
                continue; // an empty inline line
            Call call{server, client, args, out};
            execute(call);
            quit = call.quit;
        }
        in.erase(0, done);
        if (!quit && in.size() > max_query_buffer) {
            resp::error(out, "ERR Protocol error: query buffer over its limit");
            quit = protocol_error = true;
        }
        if (!out.empty())
            writer.write(std::string_view(out)); // copied only if the kernel does not take it all
        if (quit)
            break;
        co_await writer.drain(); // a client that does not read is not read from either
    }
    if (protocol_error)
        co_await linger(reader, writer);
    writer.close();
}

aio::Task<> sweep_expired(Server& server) {
    for (;;) {
        co_await aio::sleep(100ms);
        server.store.sweep();
    }
}

/// Serves on `port` until SIGTERM / SIGINT, then stops accepting, closes the connections
/// (what is queued is flushed) and returns. `ready` runs once it listens (the demo's client).
template <class Ready>
aio::Task<> serve(std::uint16_t port, std::size_t maxclients, Ready ready) {
    Server server;
    aio::Semaphore slots(static_cast<std::int64_t>(maxclients));
    auto handle = [&](aio::StreamReader reader, aio::StreamWriter writer) -> aio::Task<> {
        if (slots.locked()) {
            writer.write("-ERR max number of clients reached\r\n");
            writer.close();
            co_return;
        }
        co_await slots.acquire();
        try {
            co_await serve_client(server, std::move(reader), std::move(writer));
        } catch (...) {
            slots.release();
            throw;
        }
        slots.release();
    };
    aio::Event stop;
    aio::EventLoop& loop = aio::get_running_loop();
    loop.add_signal_handler(SIGTERM, [&] { stop.set(); });
    loop.add_signal_handler(SIGINT, [&] { stop.set(); });
    aio::Server listener = co_await aio::start_server(handle, "127.0.0.1", port);
    // Printed once everything is set up: a SIGTERM from then on is a graceful stop.
    fmt::print("mini_redis on 127.0.0.1:{}\n", listener.port());
    std::fflush(stdout);
    aio::Task<> sweeper = aio::create_task(sweep_expired(server));
    aio::Task<> client = aio::create_task(ready(listener.port(), stop));
    co_await stop.wait();
    listener.close();
    listener.close_clients();
    co_await listener.wait_closed();
    co_await client;
    sweeper.cancel();
    fmt::print("server stopped\n");
}

// --- the demo ----------------------------------------------------------------------------

/// Sends one request, returns the reply's first line (a bulk string's data after "$").
aio::Task<std::string> send(aio::StreamReader reader, aio::StreamWriter writer,
                            std::string request) {
    writer.write(std::move(request));
    std::string line = co_await reader.readline();
    if (line.size() < 3)
        throw std::runtime_error("the server closed the connection");
    line.resize(line.size() - 2); // \r\n
    if (line[0] == '$' && line != "$-1") {
        std::string data = co_await reader.readexactly(std::stoul(line.substr(1)) + 2);
        co_return "$" + data.substr(0, data.size() - 2);
    }
    co_return line == "$-1" ? "(nil)" : line;
}

/// call(reader, writer, "SET", "k", "v"): the command as a RESP array, as client libraries
/// send it. (Variadic: g++ 12 rejects a braced list inside a co_await expression.)
template <class... Args>
aio::Task<std::string> call(aio::StreamReader& reader, aio::StreamWriter& writer, Args... args) {
    std::string request;
    resp::array(request, sizeof...(args));
    (resp::bulk(request, args), ...);
    return send(reader, writer, std::move(request));
}

aio::Task<> demo(std::uint16_t port, aio::Event& stop) {
    // (Each reply goes into a variable first: g++ 12 mishandles temporaries with destructors
    // around a co_await inside a function's arguments.)
    auto [reader, writer] = co_await aio::open_connection("127.0.0.1", port);
    std::string reply = co_await call(reader, writer, "SET", "greeting", "hello");
    fmt::print("SET greeting hello -> {}\n", reply);
    reply = co_await call(reader, writer, "GET", "greeting");
    fmt::print("GET greeting -> {}\n", reply);
    for (int i = 0; i < 3; ++i)
        reply = co_await call(reader, writer, "INCR", "counter");
    fmt::print("INCR counter x3 -> {}\n", reply);
    const std::string set = co_await call(reader, writer, "SET", "session", "abc", "PX", "50");
    const std::string pttl = co_await call(reader, writer, "PTTL", "session");
    co_await aio::sleep(100ms);
    reply = co_await call(reader, writer, "GET", "session");
    fmt::print("SET session abc PX 50 -> {}; PTTL {}; after 100 ms GET -> {}\n", set,
               std::stoi(pttl.substr(1)) > 0 ? "> 0" : pttl, reply);

    auto [sub_reader, sub_writer] = co_await aio::open_connection("127.0.0.1", port);
    reply = co_await call(sub_reader, sub_writer, "SUBSCRIBE", "news"); // "*3": the rest follows
    for (int i = 0; i < 5; ++i)
        reply = co_await sub_reader.readline(); // $9 subscribe $4 news :1
    const std::string receivers = co_await call(reader, writer, "PUBLISH", "news", "hi");
    std::string message;
    reply = co_await sub_reader.readline(); // *3
    for (int i = 0; i < 3; ++i) {
        reply = co_await sub_reader.readline(); // $<length>
        reply = co_await sub_reader.readline();
        message += (message.empty() ? "" : " ") + reply.substr(0, reply.size() - 2);
    }
    fmt::print("PUBLISH news hi -> {} subscriber; it got: {}\n", receivers, message);
    reply = co_await call(reader, writer, "FOO");
    fmt::print("FOO -> {}\n", reply);
    writer.close();
    sub_writer.close();
    stop.set();
}

aio::Task<> no_demo(std::uint16_t, aio::Event&) {
    co_return;
}

} // namespace

int main(int argc, char** argv) {
    if (argc == 1) {
        aio::run(serve(0, 100, demo));
        return 0;
    }
    unsigned long port = 0, maxclients = 10000;
    bool ok = argc % 2 == 1;
    for (int i = 1; ok && i + 1 < argc; i += 2) {
        const std::string_view option = argv[i];
        const unsigned long value = std::strtoul(argv[i + 1], nullptr, 10);
        if (option == "--port")
            port = value;
        else if (option == "--maxclients")
            maxclients = value;
        else
            ok = false;
    }
    if (!ok || port > 65535 || maxclients == 0) {
        fmt::print(stderr, "usage: {} [--port N] [--maxclients N]\n", argv[0]);
        return 2;
    }
    aio::run(serve(static_cast<std::uint16_t>(port), maxclients, no_demo));
}
