// examples/http_server/http.hpp: the request parser against well-formed requests, a corpus of
// malformed ones (each with the status that must answer it), chunked bodies fed a byte at a
// time, and mutated requests that must never crash it nor parse differently when they arrive
// in pieces. (The server itself, under curl and Python's http.client: test_http_server.cpp.)
#include "../examples/http_server/http.hpp"
#include "catch.hpp"

#include <random>
#include <string>
#include <utility>
#include <vector>

namespace {

/// The outcome of parsing `text` whole: "complete <consumed>", "incomplete" or "<status>".
std::string outcome(std::string_view text, const http::Limits& limits = {}) {
    http::RequestHead head;
    const http::Result r = http::parse_head(text, head, limits);
    if (r.parse == http::Parse::complete)
        return "complete " + std::to_string(r.consumed);
    if (r.parse == http::Parse::incomplete)
        return "incomplete";
    return std::to_string(r.status);
}

/// A chunked body fed `step` bytes at a time: "<body>" when complete, or the error status.
std::string decode_chunked(std::string_view framing, std::size_t step,
                           const http::Limits& limits = {}) {
    http::ChunkedDecoder decoder;
    std::string body;
    std::size_t used = 0;
    for (std::size_t have = std::min(step, framing.size());;
         have = std::min(have + step, framing.size())) {
        const http::Result r = decoder.feed(framing.substr(used, have - used), body, limits);
        used += r.consumed;
        if (r.parse == http::Parse::error)
            return std::to_string(r.status);
        if (r.parse == http::Parse::complete)
            return "<" + body + "> rest " + std::to_string(framing.size() - used);
        if (have == framing.size())
            return "incomplete";
    }
}

} // namespace

TEST_CASE("http parser: a request's line and fields", "[http]") {
    const std::string text = "GET /static/a.txt?x=1 HTTP/1.1\r\nHost: example.com\r\n"
                             "Accept:  */*  \r\nX-Empty:\r\nconnection: Keep-Alive, Upgrade\r\n\r\n"
                             "next";
    http::RequestHead head;
    const http::Result r = http::parse_head(text, head);
    REQUIRE(r.parse == http::Parse::complete);
    CHECK(r.consumed == text.size() - 4);
    CHECK(head.method == "GET");
    CHECK(head.target == "/static/a.txt?x=1");
    CHECK(head.minor_version == 1);
    CHECK(head.headers.size() == 4);
    CHECK(head.header("HOST") == "example.com");
    CHECK(head.header("accept") == "*/*");
    CHECK(head.header("x-empty").empty());
    CHECK(head.keep_alive);
    CHECK_FALSE(head.has_body());
}

TEST_CASE("http parser: keep-alive by version and Connection", "[http]") {
    auto keep_alive = [](std::string_view text) {
        http::RequestHead head;
        REQUIRE(http::parse_head(text, head).parse == http::Parse::complete);
        return head.keep_alive;
    };
    CHECK(keep_alive("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    CHECK_FALSE(keep_alive("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
    CHECK_FALSE(keep_alive("GET / HTTP/1.0\r\n\r\n"));
    CHECK(keep_alive("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    CHECK_FALSE(keep_alive("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, CLOSE\r\n\r\n"));
}

TEST_CASE("http parser: bodies, Expect and leading empty lines", "[http]") {
    http::RequestHead head;
    REQUIRE(http::parse_head("POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                             "Content-Length: 5\r\nExpect: 100-Continue\r\n\r\n",
                             head)
                .parse == http::Parse::complete);
    CHECK(head.content_length == 5);
    CHECK(head.expect_continue);
    CHECK_FALSE(head.chunked);
    REQUIRE(
        http::parse_head("POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", head)
            .parse == http::Parse::complete);
    CHECK(head.chunked);
    CHECK(head.has_body());
    CHECK(outcome("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n") == "complete 31");
    REQUIRE(http::parse_head(
                "POST /e HTTP/1.0\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n", head)
                .parse == http::Parse::complete);
    CHECK_FALSE(head.expect_continue); // a 1.0 client must not be sent 100 Continue
}

TEST_CASE("http parser: a request in pieces is incomplete until its empty line", "[http]") {
    const std::string text = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    for (std::size_t n = 0; n < text.size(); ++n)
        CHECK(outcome(text.substr(0, n)) == "incomplete");
    CHECK(outcome(text) == "complete " + std::to_string(text.size()));
}

TEST_CASE("http parser: the malformed-request corpus gets the right status", "[http]") {
    const std::string host = "Host: a\r\n";
    const std::vector<std::pair<std::string, std::string>> corpus{
        {"GET /\r\n\r\n", "400"},                           // no version
        {"GET  / HTTP/1.1\r\n" + host + "\r\n", "400"},     // two spaces
        {"GET / HTTP/1.1 \r\n" + host + "\r\n", "400"},     // a trailing space
        {"G(T / HTTP/1.1\r\n" + host + "\r\n", "400"},      // not a token
        {"GET /a\x01 HTTP/1.1\r\n" + host + "\r\n", "400"}, // a control byte
        {"GET /\xff HTTP/1.1\r\n" + host + "\r\n", "400"},  // not ASCII
        {"GET / HTTP/1.1\n" + host + "\r\n", "400"},        // a bare LF
        {"GET / HTTP/1.1\r\nHost: a\n\n", "400"},           // bare LFs
        {"GET / HTTX/1.1\r\n" + host + "\r\n", "400"},      // not HTTP
        {"GET / HTTP/1.10\r\n" + host + "\r\n", "400"},     // not digit.digit
        {"GET / HTTP/2.0\r\n" + host + "\r\n", "505"},      // another version
        {"GET / HTTP/1.2\r\n" + host + "\r\n", "505"},
        {"GET / HTTP/1.1\r\n\r\n", "400"},                           // no Host in 1.1
        {"GET / HTTP/1.1\r\n" + host + host + "\r\n", "400"},        // two Hosts
        {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", "400"},               // space before colon
        {"GET / HTTP/1.1\r\n" + host + "X: a\r\n b\r\n\r\n", "400"}, // folded
        {"GET / HTTP/1.1\r\n" + host + "no colon\r\n\r\n", "400"},
        {"GET / HTTP/1.1\r\n" + host + ": empty name\r\n\r\n", "400"},
        {"GET / HTTP/1.1\r\n" + host + "X: a\x7f\r\n\r\n", "400"}, // DEL
        {"POST / HTTP/1.1\r\n" + host + "Content-Length: -1\r\n\r\n", "400"},
        {"POST / HTTP/1.1\r\n" + host + "Content-Length: 1e3\r\n\r\n", "400"},
        {"POST / HTTP/1.1\r\n" + host + "Content-Length: 5, 5\r\n\r\n", "400"},
        {"POST / HTTP/1.1\r\n" + host + "Content-Length: 99999999999999999999\r\n\r\n", "400"},
        {"POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", "400"},
        {"POST / HTTP/1.1\r\n" + host + "Content-Length: 2000000\r\n\r\n", "413"},
        {"POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
         "400"}, // smuggling
        {"POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip, chunked\r\n\r\n", "501"},
        {"POST / HTTP/1.1\r\n" + host +
             "Transfer-Encoding: chunked\r\n"
             "Transfer-Encoding: chunked\r\n\r\n",
         "400"},
        {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", "400"},
        {"POST / HTTP/1.1\r\n" + host + "Transfer-Encoding:\r\nContent-Length: 3\r\n\r\n",
         "400"}, // an empty Transfer-Encoding is still one
        {"POST / HTTP/1.1\r\n" + host + "Transfer-Encoding:\r\nTransfer-Encoding: chunked\r\n\r\n",
         "400"},
        {"POST / HTTP/1.1\r\n" + host + "Transfer-Encoding:\r\n\r\n", "501"},
        {"GET / HTTP/1.0\r\nExpect: 200-ok\r\n\r\n", "complete 34"}, // 1.0: Expect ignored
        {"GET / HTTP/1.1\r\n" + host + "Expect: 200-ok\r\n\r\n", "417"},
        {"GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n" + host + "\r\n", "414"},
        {"GET / HTTP/1.1\r\n" + host + "X: " + std::string(9000, 'a') + "\r\n\r\n", "431"},
        {std::string(9000, 'x'), "414"},  // garbage, no line end
        {std::string(9000, '\n'), "400"}, // empty lines
    };
    for (const auto& [request, status] : corpus) {
        INFO(request.substr(0, 80));
        CHECK(outcome(request) == status);
    }
    // A field value with a NUL inside (a std::string, so the NUL is kept).
    std::string nul = "GET / HTTP/1.1\r\nHost: a\r\nX: a_b\r\n\r\n";
    nul[nul.find('_')] = '\0';
    CHECK(outcome(nul) == "400");
}

TEST_CASE("http parser: the header limits hold exactly", "[http]") {
    http::Limits limits;
    limits.max_headers = 3;
    limits.max_head = 64;
    std::string three = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
    CHECK(outcome(three, limits) == "complete " + std::to_string(three.size()));
    CHECK(outcome("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits) == "431");
    std::string exactly = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
    exactly += std::string(64 - exactly.size() - 4, 'x') + "\r\n\r\n";
    REQUIRE(exactly.size() == 64);
    CHECK(outcome(exactly, limits) == "complete 64");
    CHECK(outcome(exactly.substr(0, 60) + "y\r\n\r\n", limits) == "431");
    CHECK(outcome(std::string(64, 'G'), limits) == "incomplete"); // not over yet
    CHECK(outcome(std::string(65, 'G'), limits) == "414");
}

TEST_CASE("http parser: chunked bodies, whole and a byte at a time", "[http]") {
    const std::string framing = "5;ext=1\r\nhello\r\n1\r\n,\r\nA\r\n 01234567 \r\n0\r\n"
                                "Trailer: x\r\n\r\nNEXT";
    CHECK(decode_chunked(framing, framing.size()) == "<hello, 01234567 > rest 4");
    CHECK(decode_chunked(framing, 1) == "<hello, 01234567 > rest 4");
    CHECK(decode_chunked(framing, 7) == "<hello, 01234567 > rest 4");
    CHECK(decode_chunked("0\r\n\r\n", 1) == "<> rest 0");
    CHECK(decode_chunked("5\r\nhel", 1) == "incomplete");
    // Malformed framing.
    CHECK(decode_chunked("x\r\n", 1) == "400");
    CHECK(decode_chunked("\r\n", 1) == "400");
    CHECK(decode_chunked("5\nhello\r\n", 1) == "400");
    CHECK(decode_chunked("5\r\nhelloXY0\r\n\r\n", 1) == "400");
    CHECK(decode_chunked("fffffffffffffffff\r\n", 1) == "400"); // 17 digits
    CHECK(decode_chunked("1;" + std::string(5000, 'e'), 100) == "400");
    CHECK(decode_chunked("3;a\rb\r\nabc\r\n0\r\n\r\n", 1) == "400"); // a bare CR in an extension
    // Limits: the body after decoding, the framing, the trailer.
    http::Limits limits;
    limits.max_body = 10;
    CHECK(decode_chunked("5\r\nhello\r\n6\r\n", 1, limits) == "413");
    CHECK(decode_chunked("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", 3, limits) ==
          "<helloworld> rest 0");
    std::string many_extensions;
    for (int i = 0; i < 20; ++i)
        many_extensions += "0000001;" + std::string(300, 'e') + "\r\nx\r\n";
    CHECK(decode_chunked(many_extensions, 50, limits) == "413");
    CHECK(decode_chunked("0\r\nX: " + std::string(9000, 't') + "\r\n\r\n", 64) == "431");
}

TEST_CASE("http parser: mutated requests never crash it and parse the same in pieces", "[http]") {
    const std::string seed = "POST /echo?q=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                             "Connection: keep-alive\r\n\r\nabc";
    const std::string alphabet = std::string("\r\n :/\t\x00\x7f\xff-0123456789aA", 21);
    std::mt19937 random(12345);
    int complete = 0, errors = 0;
    for (int round = 0; round < 3000; ++round) {
        std::string text = seed;
        const int edits = 1 + static_cast<int>(random() % 4);
        for (int e = 0; e < edits; ++e) {
            const std::size_t at = random() % text.size();
            switch (random() % 3) {
            case 0:
                text[at] = alphabet[random() % alphabet.size()];
                break;
            case 1:
                text.erase(at, 1 + random() % 3);
                break;
            default:
                text.insert(at, 1, alphabet[random() % alphabet.size()]);
                break;
            }
            if (text.empty())
                text = "x";
        }
        const std::string whole = outcome(text);
        // Fed as it would arrive: every prefix before the outcome is "incomplete" or the same
        // error (an error may be seen early), never a different complete request.
        for (std::size_t n = 1; n < text.size(); ++n) {
            const std::string partial = outcome(std::string_view(text).substr(0, n));
            if (partial != "incomplete") {
                INFO(text);
                CHECK((partial == whole || whole.rfind("complete", 0) != 0));
                break;
            }
        }
        complete += whole.rfind("complete", 0) == 0;
        errors += whole != "incomplete" && whole.rfind("complete", 0) != 0;
    }
    // The mutations reach both sides of the parser.
    CHECK(complete > 100);
    CHECK(errors > 1000);
}
