// http.hpp — the HTTP/1.1 request parser of http_server, and the response encoder.
//
// The parser is incremental and strict (RFC 9112): it looks at the bytes received so far and
// either returns one whole request head (as views into those bytes), says it needs more, or
// says which status answers the input (400 malformed, 413 body too large, 414 target too long,
// 431 head too large or too many fields, 501 a transfer coding other than chunked, 505 a
// version other than 1.0 / 1.1). Anything a request smuggler relies on is refused: both
// Content-Length and Transfer-Encoding, two different Content-Lengths, whitespace before a
// field's colon, folded lines, control bytes, a bare LF. A chunked body is decoded by a small
// state machine fed what arrives, so a client sending a byte at a time costs no re-parsing.
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace http {

/// What one request may make the server hold (nginx's defaults are of the same size).
struct Limits {
    std::size_t max_head = 8 * 1024; // request line and header fields, with their CRLFs
    std::size_t max_headers = 100;   // header fields
    std::size_t max_body = 1 << 20;  // a body, after chunked decoding
};

enum class Parse { complete, incomplete, error };

/// The outcome of one parse step: on `complete`, `consumed` bytes were used; on `error`,
/// `status` is the response's status and `reason` says what was wrong.
struct Result {
    Parse parse = Parse::incomplete;
    std::size_t consumed = 0;
    int status = 0;
    std::string_view reason;
};

struct Header {
    std::string_view name;
    std::string_view value;
};

/// A request's line and fields, as views into the received bytes (valid while they are).
struct RequestHead {
    std::string_view method;
    std::string_view target;
    int minor_version = 1; // HTTP/1.<minor_version>
    std::vector<Header> headers;
    std::size_t content_length = 0;
    bool chunked = false;
    bool keep_alive = true; // HTTP/1.1 unless "Connection: close"; 1.0 only with keep-alive
    bool expect_continue = false;

    bool has_body() const noexcept { return chunked || content_length > 0; }
    /// The first field called `name` (case-insensitive), or an empty view.
    std::string_view header(std::string_view name) const noexcept;
};

namespace detail {

inline char lower(char c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}

inline bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i]))
            return false;
    return true;
}

/// RFC 9110 tchar: what a method or a field name is made of (a table: the parser asks per byte).
inline constexpr auto token_chars = [] {
    std::array<bool, 256> table{};
    for (unsigned char c = '0'; c <= '9'; ++c)
        table[c] = true;
    for (unsigned char c = 'a'; c <= 'z'; ++c)
        table[c] = table[c - 32] = true;
    for (char c : std::string_view("!#$%&'*+-.^_`|~"))
        table[static_cast<unsigned char>(c)] = true;
    return table;
}();

inline bool is_token(std::string_view s) noexcept {
    for (char c : s)
        if (!token_chars[static_cast<unsigned char>(c)])
            return false;
    return !s.empty();
}

/// A field value's bytes: visible ASCII, space, tab and obs-text; no other control byte.
inline bool is_field_value(std::string_view s) noexcept {
    return std::all_of(s.begin(), s.end(), [](char ch) {
        const auto c = static_cast<unsigned char>(ch);
        return c == '\t' || (c >= 0x20 && c != 0x7f);
    });
}

inline std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

/// Where the head ends (just past its empty line), or npos. Lines may end in CRLF or, to be
/// reported as malformed rather than waited for, a bare LF.
inline std::size_t head_end(std::string_view in) noexcept {
    for (std::size_t lf = in.find('\n'); lf != std::string_view::npos; lf = in.find('\n', lf + 1)) {
        if (lf + 1 < in.size() && in[lf + 1] == '\n')
            return lf + 2;
        if (lf + 2 < in.size() && in[lf + 1] == '\r' && in[lf + 2] == '\n')
            return lf + 3;
    }
    return std::string_view::npos;
}

/// Calls `line(text)` for each CRLF-terminated line of `head` (its last, empty line excluded);
/// false when a line ends in a bare LF or `line` returns false.
template <class Line>
bool for_each_line(std::string_view head, Line line) {
    std::size_t pos = 0;
    while (pos < head.size()) {
        const std::size_t lf = head.find('\n', pos);
        if (lf == std::string_view::npos || lf == pos || head[lf - 1] != '\r')
            return false;
        const std::string_view text = head.substr(pos, lf - 1 - pos);
        pos = lf + 1;
        if (text.empty())
            return pos == head.size();
        if (!line(text))
            return false;
    }
    return false;
}

/// A Content-Length value: decimal digits only (no sign, no space, no list), at most 18.
inline bool parse_length(std::string_view s, std::size_t& value) noexcept {
    if (s.empty() || s.size() > 18)
        return false;
    std::size_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + static_cast<std::size_t>(c - '0');
    }
    value = v;
    return true;
}

/// True when the comma-separated list `value` holds `token` (case-insensitive).
inline bool list_has(std::string_view value, std::string_view token) noexcept {
    while (!value.empty()) {
        const std::size_t comma = value.find(',');
        if (iequals(trim(value.substr(0, comma)), token))
            return true;
        if (comma == std::string_view::npos)
            break;
        value.remove_prefix(comma + 1);
    }
    return false;
}

inline Result fail(int status, std::string_view reason) noexcept {
    return Result{Parse::error, 0, status, reason};
}
inline Result complete(std::size_t consumed = 0) noexcept {
    return Result{Parse::complete, consumed, 0, {}};
}
inline Result incomplete(std::size_t consumed = 0) noexcept {
    return Result{Parse::incomplete, consumed, 0, {}};
}

inline Result parse_request_line(std::string_view line, RequestHead& head) {
    const std::size_t sp1 = line.find(' ');
    const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
        return fail(400, "the request line is not: method SP target SP version");
    head.method = line.substr(0, sp1);
    head.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string_view version = line.substr(sp2 + 1);
    if (!is_token(head.method))
        return fail(400, "the method is not a token");
    if (head.target.empty() || !std::all_of(head.target.begin(), head.target.end(),
                                            [](char c) { return c > 0x20 && c < 0x7f; }))
        return fail(400, "the request target is empty or has a byte outside visible ASCII");
    if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
        version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9')
        return fail(400, "the version is not HTTP/<digit>.<digit>");
    if (version[5] != '1' || (version[7] != '0' && version[7] != '1'))
        return fail(505, "only HTTP/1.0 and HTTP/1.1 are served");
    head.minor_version = version[7] - '0';
    return detail::complete();
}

/// What the fields say about the body and the connection.
inline Result interpret_fields(RequestHead& head, const Limits& limits) {
    bool has_length = false, has_host = false, close = false, keep_alive = false;
    bool has_transfer_encoding = false;
    std::string_view transfer_encoding;
    for (const Header& h : head.headers) {
        if (iequals(h.name, "content-length")) {
            std::size_t length = 0;
            if (!parse_length(h.value, length))
                return fail(400, "Content-Length is not a decimal number");
            if (has_length && length != head.content_length)
                return fail(400, "two different Content-Length fields");
            head.content_length = length;
            has_length = true;
        } else if (iequals(h.name, "transfer-encoding")) {
            if (has_transfer_encoding)
                return fail(400, "two Transfer-Encoding fields");
            has_transfer_encoding = true;
            transfer_encoding = h.value;
        } else if (iequals(h.name, "host")) {
            if (has_host)
                return fail(400, "two Host fields");
            has_host = true;
        } else if (iequals(h.name, "connection")) {
            close = close || list_has(h.value, "close");
            keep_alive = keep_alive || list_has(h.value, "keep-alive");
        } else if (iequals(h.name, "expect") && head.minor_version == 1) { // (1.0: ignored)
            if (!iequals(h.value, "100-continue"))
                return fail(417, "the only expectation met is 100-continue");
            head.expect_continue = true;
        }
    }
    if (head.minor_version == 1 && !has_host)
        return fail(400, "an HTTP/1.1 request without a Host field");
    if (has_transfer_encoding) {
        if (has_length)
            return fail(400, "both Content-Length and Transfer-Encoding");
        if (head.minor_version == 0)
            return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
        if (!iequals(transfer_encoding, "chunked"))
            return fail(501, "the only transfer coding understood is chunked");
        head.chunked = true;
    }
    if (head.content_length > limits.max_body)
        return fail(413, "the body is over the server's limit");
    head.keep_alive = !close && (head.minor_version == 1 || keep_alive);
    return detail::complete();
}

} // namespace detail

inline std::string_view RequestHead::header(std::string_view name) const noexcept {
    for (const Header& h : headers)
        if (detail::iequals(h.name, name))
            return h.value;
    return {};
}

/// Parses the head of the request at the start of `in` (leading empty lines, which RFC 9112
/// lets a server skip, are skipped). Complete: `consumed` is where the body (if any) begins.
inline Result parse_head(std::string_view in, RequestHead& head, const Limits& limits = {}) {
    std::size_t skipped = 0;
    while (skipped + 1 < in.size() && in[skipped] == '\r' && in[skipped + 1] == '\n' &&
           skipped < 64)
        skipped += 2;
    const std::string_view rest = in.substr(skipped);
    const std::size_t end = detail::head_end(rest);
    if (end == std::string_view::npos || end > limits.max_head) {
        if (rest.size() <= limits.max_head && end == std::string_view::npos)
            return detail::incomplete();
        if (rest.find('\n') > limits.max_head)
            return detail::fail(414, "the request line is over the server's limit");
        return detail::fail(431, "the request head is over the server's limit");
    }
    head = RequestHead{{}, {}, 1, std::move(head.headers), 0, false, true, false};
    head.headers.clear();
    bool first = true;
    Result failure;
    const bool well_formed = detail::for_each_line(rest.substr(0, end), [&](std::string_view line) {
        if (first) {
            first = false;
            failure = detail::parse_request_line(line, head);
            return failure.parse == Parse::complete;
        }
        if (line.front() == ' ' || line.front() == '\t') {
            failure = detail::fail(400, "a folded header line (obsolete line folding)");
            return false;
        }
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos || !detail::is_token(line.substr(0, colon))) {
            failure = detail::fail(400, "a header line is not: name \":\" value");
            return false;
        }
        const std::string_view value = detail::trim(line.substr(colon + 1));
        if (!detail::is_field_value(value)) {
            failure = detail::fail(400, "a header value has a control byte");
            return false;
        }
        if (head.headers.size() == limits.max_headers) {
            failure = detail::fail(431, "more header fields than the server's limit");
            return false;
        }
        head.headers.push_back(Header{line.substr(0, colon), value});
        return true;
    });
    if (failure.parse == Parse::error)
        return failure;
    if (!well_formed || first)
        return detail::fail(400, "a line does not end in CRLF");
    const Result fields = detail::interpret_fields(head, limits);
    if (fields.parse == Parse::error)
        return fields;
    return detail::complete(skipped + end);
}

/// Decodes a chunked body as it arrives: feed() takes what was received after the head (or
/// after what the last feed consumed), appends the chunks' data to `body` and says how much it
/// consumed; complete once the last chunk and the trailer fields (ignored) are in.
class ChunkedDecoder {
public:
    Result feed(std::string_view in, std::string& body, const Limits& limits = {}) {
        std::size_t pos = 0;
        for (;;) {
            switch (state_) {
            case State::size_line: {
                const std::size_t lf = in.find('\n', pos);
                if (lf == std::string_view::npos) {
                    if (in.size() - pos > max_size_line)
                        return detail::fail(400, "a chunk size line is too long");
                    return detail::incomplete(pos);
                }
                if (lf == pos || in[lf - 1] != '\r')
                    return detail::fail(400, "a chunk size line does not end in CRLF");
                std::string_view line = in.substr(pos, lf - 1 - pos);
                if (!detail::is_field_value(line)) // (a bare CR or a control byte in an extension)
                    return detail::fail(400, "a chunk size line has a control byte");
                line = line.substr(0, line.find(';')); // chunk extensions are ignored
                std::size_t size = 0;
                if (line.empty() || line.size() > 15)
                    return detail::fail(400, "a chunk size is not 1 to 15 hex digits");
                for (char c : line) {
                    const int digit = hex_digit(c);
                    if (digit < 0)
                        return detail::fail(400, "a chunk size is not hexadecimal");
                    size = size * 16 + static_cast<std::size_t>(digit);
                }
                if (size > limits.max_body - std::min(limits.max_body, body.size()))
                    return detail::fail(413, "the chunked body is over the server's limit");
                framing_ += lf + 1 - pos;
                if (framing_ > limits.max_body + max_size_line)
                    return detail::fail(413,
                                        "the chunked body's framing is over the server's limit");
                pos = lf + 1;
                remaining_ = size;
                state_ = size == 0 ? State::trailer : State::data;
                break;
            }
            case State::data: {
                const std::size_t take = std::min(remaining_, in.size() - pos);
                body.append(in.substr(pos, take));
                pos += take;
                remaining_ -= take;
                if (remaining_ > 0)
                    return detail::incomplete(pos);
                state_ = State::data_end;
                break;
            }
            case State::data_end:
                if (in.size() - pos < 2)
                    return detail::incomplete(pos);
                if (in.substr(pos, 2) != "\r\n")
                    return detail::fail(400, "a chunk's data is not followed by CRLF");
                pos += 2;
                state_ = State::size_line;
                break;
            case State::trailer: {
                const std::size_t lf = in.find('\n', pos);
                if (lf == std::string_view::npos) {
                    if (in.size() - pos + trailer_bytes_ > limits.max_head)
                        return detail::fail(431, "the trailer fields are over the server's limit");
                    return detail::incomplete(pos);
                }
                if (lf == pos || in[lf - 1] != '\r')
                    return detail::fail(400, "a trailer line does not end in CRLF");
                trailer_bytes_ += lf + 1 - pos;
                if (trailer_bytes_ > limits.max_head)
                    return detail::fail(431, "the trailer fields are over the server's limit");
                const bool last = lf == pos + 1;
                pos = lf + 1;
                if (last) {
                    *this = ChunkedDecoder();
                    return detail::complete(pos);
                }
                break;
            }
            }
        }
    }

private:
    enum class State { size_line, data, data_end, trailer };
    static constexpr std::size_t max_size_line = 4096; // with extensions

    static int hex_digit(char c) noexcept {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        return -1;
    }

    State state_ = State::size_line;
    std::size_t remaining_ = 0;
    std::size_t trailer_bytes_ = 0;
    std::size_t framing_ = 0; // size lines with their extensions: bounded, as the body
};

inline std::string_view status_text(int status) noexcept {
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 417:
        return "Expectation Failed";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

/// What a response says besides its status and body.
struct ResponseOptions {
    std::string_view content_type = "text/plain";
    bool keep_alive = true;
    bool head_only = false;
    bool http_1_0 = false; // a 1.0 client: keep-alive must be said ("Connection: keep-alive") // a
                           // HEAD request: the fields of GET's response, no body
    std::string_view date;          // the Date field's value, when not empty
    std::string_view extra_headers; // whole lines, each ending in CRLF (e.g. "Allow: GET\r\n")
};

/// Appends a whole response to `out` (one buffer: pipelined responses go out in one write).
inline void append_response(std::string& out, int status, std::string_view body,
                            const ResponseOptions& options) {
    char digits[24];
    auto number = [&](std::size_t value) {
        return std::string_view(
            digits, static_cast<std::size_t>(
                        std::to_chars(digits, digits + sizeof digits, value).ptr - digits));
    };
    using namespace std::string_view_literals;
    const std::string_view text = status_text(status);
    out.reserve(out.size() + 160 + options.date.size() + options.extra_headers.size() +
                (options.head_only ? 0 : body.size()));
    out += "HTTP/1.1 "sv;
    out += number(static_cast<std::size_t>(status));
    out += ' ';
    out += text;
    out += "\r\nServer: aio-http\r\n"sv;
    if (!options.date.empty()) {
        out += "Date: "sv;
        out += options.date;
        out += "\r\n"sv;
    }
    out += "Content-Type: "sv;
    out += options.content_type;
    out += "\r\nContent-Length: "sv;
    out += number(body.size());
    out += "\r\n"sv;
    if (!options.keep_alive)
        out += "Connection: close\r\n"sv;
    else if (options.http_1_0)
        out += "Connection: keep-alive\r\n"sv;
    out += options.extra_headers;
    out += "\r\n"sv;
    if (!options.head_only)
        out += body;
}

} // namespace http
