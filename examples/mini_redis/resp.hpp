// resp.hpp — the RESP2 request parser of mini_redis, and the reply encoders.
//
// A request is an array of bulk strings ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", what every client
// library and redis-cli send) or an inline command ("GET k\r\n", what telnet sends). The parser
// is incremental: it looks at the bytes received so far and either returns one whole command
// (as views into those bytes), says it needs more, or says why the input is not RESP. Limits
// keep a hostile client from making the server buffer without bound.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace resp {

inline constexpr std::size_t max_bulk = 64 << 20;   // one argument (redis: 512 MB)
inline constexpr std::int64_t max_args = 1 << 20;   // arguments of one command (as redis)
inline constexpr std::size_t max_inline = 64 << 10; // an inline command's line (as redis)

enum class Parse { complete, incomplete, error };

struct Parsed {
    Parse status = Parse::incomplete;
    std::size_t consumed = 0; // bytes of the command, when complete
    std::string_view error;   // what is wrong, when error
};

namespace detail {

/// The integer between `pos` and the next "\r\n"; npos-like -1 when the line is not complete.
inline Parse read_number(std::string_view in, std::size_t& pos, std::int64_t& value) {
    const std::size_t end = in.find("\r\n", pos);
    if (end == std::string_view::npos)
        return in.size() - pos > 32 ? Parse::error : Parse::incomplete;
    const auto [ptr, ec] = std::from_chars(in.data() + pos, in.data() + end, value);
    if (ec != std::errc() || ptr != in.data() + end)
        return Parse::error;
    pos = end + 2;
    return Parse::complete;
}

inline Parsed parse_inline(std::string_view in, std::vector<std::string_view>& args) {
    const std::size_t end = in.find('\n');
    if (end == std::string_view::npos)
        return in.size() > max_inline ? Parsed{Parse::error, 0, "too big inline request"}
                                      : Parsed{};
    std::string_view line = in.substr(0, end);
    if (!line.empty() && line.back() == '\r')
        line.remove_suffix(1);
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
            ++i;
        const std::size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t')
            ++i;
        if (i > start)
            args.push_back(line.substr(start, i - start));
    }
    return {Parse::complete, end + 1, {}};
}

} // namespace detail

/// Parses the command at the front of `in` into `args` (views into `in`).
inline Parsed parse_command(std::string_view in, std::vector<std::string_view>& args) {
    args.clear();
    if (in.empty())
        return {};
    if (in[0] != '*')
        return detail::parse_inline(in, args);
    std::size_t pos = 1;
    std::int64_t count = 0;
    switch (detail::read_number(in, pos, count)) {
    case Parse::incomplete:
        return {};
    case Parse::error:
        return {Parse::error, 0, "invalid multibulk length"};
    case Parse::complete:
        break;
    }
    if (count > max_args)
        return {Parse::error, 0, "invalid multibulk length"};
    for (std::int64_t i = 0; i < count; ++i) {
        if (pos >= in.size())
            return {};
        if (in[pos] != '$')
            return {Parse::error, 0, "expected '$'"};
        ++pos;
        std::int64_t length = 0;
        switch (detail::read_number(in, pos, length)) {
        case Parse::incomplete:
            return {};
        case Parse::error:
            return {Parse::error, 0, "invalid bulk length"};
        case Parse::complete:
            break;
        }
        if (length < 0 || static_cast<std::uint64_t>(length) > max_bulk)
            return {Parse::error, 0, "invalid bulk length"};
        const auto size = static_cast<std::size_t>(length);
        if (in.size() - pos < size + 2)
            return {};
        if (in[pos + size] != '\r' || in[pos + size + 1] != '\n')
            return {Parse::error, 0, "bulk string not terminated by CRLF"};
        args.push_back(in.substr(pos, size));
        pos += size + 2;
    }
    return {Parse::complete, pos, {}};
}

// --- replies (appended to the connection's output batch) --------------------------------

inline void simple(std::string& out, std::string_view text) {
    out += '+';
    out += text;
    out += "\r\n";
}
inline void error(std::string& out, std::string_view text) {
    out += '-';
    out += text;
    out += "\r\n";
}
inline void integer(std::string& out, std::int64_t value) {
    out += ':';
    out += std::to_string(value);
    out += "\r\n";
}
inline void bulk(std::string& out, std::string_view data) {
    out += '$';
    out += std::to_string(data.size());
    out += "\r\n";
    out += data;
    out += "\r\n";
}
inline void null_bulk(std::string& out) {
    out += "$-1\r\n";
}
inline void array(std::string& out, std::size_t count) {
    out += '*';
    out += std::to_string(count);
    out += "\r\n";
}

} // namespace resp
