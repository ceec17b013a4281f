// aio::SocketAddress: parsing, formatting and the OS form of IPv4, IPv6 and Unix addresses.
#include "catch.hpp"
#include <aio/aio.hpp>

#include <fmt/core.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <string>

TEST_CASE("SocketAddress: IPv4 host, port, to_string and fmt", "[socket_address]") {
    const aio::SocketAddress a{"127.0.0.1", 8888};
    REQUIRE(a.family() == AF_INET);
    REQUIRE(a.host() == "127.0.0.1");
    REQUIRE(a.port() == 8888);
    REQUIRE(a.to_string() == "127.0.0.1:8888");
    REQUIRE(fmt::format("{}", a) == "127.0.0.1:8888");
    REQUIRE(a.native_size() == sizeof(sockaddr_in));
    const auto* in = reinterpret_cast<const sockaddr_in*>(a.native());
    REQUIRE(ntohs(in->sin_port) == 8888);
    REQUIRE(ntohl(in->sin_addr.s_addr) == 0x7f000001u);
}

TEST_CASE("SocketAddress: IPv6 in brackets for to_string, with or without brackets in",
          "[socket_address]") {
    const aio::SocketAddress a{"::1", 80};
    REQUIRE(a.family() == AF_INET6);
    REQUIRE(a.host() == "::1");
    REQUIRE(a.to_string() == "[::1]:80");
    REQUIRE(aio::SocketAddress("[::1]", 80) == a);
    REQUIRE(a.native_size() == sizeof(sockaddr_in6));
}

TEST_CASE("SocketAddress: an empty host is IPv4's any address, \"::\" IPv6's", "[socket_address]") {
    REQUIRE(aio::SocketAddress("", 0).to_string() == "0.0.0.0:0");
    REQUIRE(aio::SocketAddress("::", 5).to_string() == "[::]:5");
    REQUIRE(aio::SocketAddress().empty());
    REQUIRE(aio::SocketAddress().family() == AF_UNSPEC);
    REQUIRE(aio::SocketAddress().to_string().empty());
}

TEST_CASE("SocketAddress: a host name or garbage is a ValueError that says to resolve it",
          "[socket_address]") {
    for (const char* bad : {"localhost", "256.0.0.1", "1.2.3", "::g", "[::1"}) {
        INFO(bad);
        try {
            (void)aio::SocketAddress(bad, 1);
            FAIL("no exception");
        } catch (const aio::ValueError& e) {
            REQUIRE(std::string(e.what()).find("is not a numeric IPv4 or IPv6 address") !=
                    std::string::npos);
            REQUIRE(std::string(e.what()).find("getaddrinfo") != std::string::npos);
        }
    }
}

TEST_CASE("SocketAddress: Unix paths, and a path too long for sun_path is a ValueError",
          "[socket_address]") {
    const auto u = aio::SocketAddress::unix_path("/run/app.sock");
    REQUIRE(u.family() == AF_UNIX);
    REQUIRE(u.host() == "/run/app.sock");
    REQUIRE(u.port() == 0);
    REQUIRE(u.to_string() == "/run/app.sock");
    REQUIRE(fmt::format("{}", u) == "/run/app.sock");
    sockaddr_un un{};
    const std::string longest(sizeof un.sun_path - 1, 'x');
    REQUIRE(aio::SocketAddress::unix_path(longest).host() == longest);
    REQUIRE_THROWS_AS(aio::SocketAddress::unix_path(longest + "x"), aio::ValueError);
    REQUIRE_THROWS_AS(aio::SocketAddress::unix_path(""), aio::ValueError);
}

TEST_CASE("SocketAddress: from_native round-trips what the OS gives, and compares equal",
          "[socket_address]") {
    const aio::SocketAddress a{"10.1.2.3", 4567};
    const auto b = aio::SocketAddress::from_native(a.native(), a.native_size());
    REQUIRE(b == a);
    REQUIRE(b.to_string() == "10.1.2.3:4567");
    REQUIRE_FALSE(b == aio::SocketAddress("10.1.2.3", 4568));
    sockaddr_storage big{};
    REQUIRE_THROWS_AS(
        aio::SocketAddress::from_native(reinterpret_cast<const sockaddr*>(&big), sizeof big + 1),
        aio::ValueError);
}
