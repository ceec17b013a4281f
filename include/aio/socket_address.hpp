// aio::SocketAddress — an IPv4, IPv6 or Unix-domain socket address, as the OS takes it.
#pragma once

#include <aio/detail/text_formatter.hpp>
#include <aio/errors.hpp>

#include <fmt/core.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace aio {

/// An IPv4, IPv6 or Unix-domain address: `host()`, `port()`, `to_string()` ("127.0.0.1:8888",
/// "[::1]:80", or the Unix path), fmt-formattable. A default-constructed one is empty
/// (`family() == AF_UNSPEC`).
class SocketAddress {
public:
    SocketAddress() noexcept = default;

    /// A numeric IPv4 or IPv6 address and a port: `{"127.0.0.1", 8888}`, `{"::1", 80}`; an empty
    /// host or "0.0.0.0" is IPv4's any address, "::" IPv6's. Throws aio::ValueError for anything
    /// else (names are resolved with loop.getaddrinfo(), never here, so this never blocks).
    SocketAddress(std::string_view host, std::uint16_t port) {
        if (!parse(host, port))
            throw ValueError("\"" + std::string(host) +
                             "\" is not a numeric IPv4 or IPv6 address; resolve host names with "
                             "loop.getaddrinfo() (or use aio::open_connection, which does)");
    }

    /// The address when `host` is numeric (as the constructor), else nullopt: for code that
    /// resolves names only when it must.
    static std::optional<SocketAddress> numeric(std::string_view host, std::uint16_t port) {
        SocketAddress address;
        if (!address.parse(host, port))
            return std::nullopt;
        return address;
    }

    /// A Unix-domain address. Throws aio::ValueError when the path does not fit sun_path
    /// (108 bytes on Linux, 104 on macOS) or is empty.
    static SocketAddress unix_path(std::string_view path) {
        sockaddr_un un{};
        if (path.empty() || path.size() >= sizeof un.sun_path)
            throw ValueError("a Unix socket path must have 1 to " +
                             std::to_string(sizeof un.sun_path - 1) + " bytes; \"" +
                             std::string(path) + "\" has " + std::to_string(path.size()));
        un.sun_family = AF_UNIX;
        std::memcpy(un.sun_path, path.data(), path.size());
        SocketAddress address;
        address.assign(&un,
                       static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1));
        return address;
    }

    /// What the OS returned (accept, getsockname, recvfrom). Throws aio::ValueError for a
    /// length that does not fit.
    static SocketAddress from_native(const sockaddr* address, socklen_t length) {
        if (length > sizeof(sockaddr_storage))
            throw ValueError("socket address of " + std::to_string(length) + " bytes is too long");
        SocketAddress result;
        result.assign(address, length);
        return result;
    }

    /// AF_INET, AF_INET6, AF_UNIX, or AF_UNSPEC when empty.
    int family() const noexcept { return length_ == 0 ? AF_UNSPEC : storage_.ss_family; }
    bool empty() const noexcept { return length_ == 0; }

    /// "127.0.0.1", "::1", the Unix path, or "" when empty.
    std::string host() const {
        char text[INET6_ADDRSTRLEN] = {};
        switch (family()) {
        case AF_INET:
            ::inet_ntop(AF_INET, &as<sockaddr_in>().sin_addr, text, sizeof text);
            return text;
        case AF_INET6:
            ::inet_ntop(AF_INET6, &as<sockaddr_in6>().sin6_addr, text, sizeof text);
            return text;
        case AF_UNIX: {
            const auto& un = as<sockaddr_un>();
            const std::size_t room = length_ - offsetof(sockaddr_un, sun_path);
            return std::string(un.sun_path, ::strnlen(un.sun_path, room));
        }
        default:
            return {};
        }
    }

    /// The port (0 for a Unix address or an empty one).
    std::uint16_t port() const noexcept {
        switch (family()) {
        case AF_INET:
            return ntohs(as<sockaddr_in>().sin_port);
        case AF_INET6:
            return ntohs(as<sockaddr_in6>().sin6_port);
        default:
            return 0;
        }
    }

    /// "127.0.0.1:8888", "[::1]:80", the Unix path, or "" when empty.
    std::string to_string() const {
        switch (family()) {
        case AF_INET:
            return host() + ":" + std::to_string(port());
        case AF_INET6:
            return "[" + host() + "]:" + std::to_string(port());
        default:
            return host();
        }
    }

    /// For the socket calls.
    const sockaddr* native() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
    socklen_t native_size() const noexcept { return length_; }

    friend bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept {
        return a.length_ == b.length_ && std::memcmp(&a.storage_, &b.storage_, a.length_) == 0;
    }

private:
    bool parse(std::string_view host, std::uint16_t port) {
        const std::string h(host.empty() ? "0.0.0.0" : host);
        sockaddr_in v4{};
        sockaddr_in6 v6{};
        if (::inet_pton(AF_INET, h.c_str(), &v4.sin_addr) == 1) {
            v4.sin_family = AF_INET;
            v4.sin_port = htons(port);
            assign(&v4, sizeof v4);
            return true;
        }
        if (::inet_pton(AF_INET6, strip_brackets(h).c_str(), &v6.sin6_addr) == 1) {
            v6.sin6_family = AF_INET6;
            v6.sin6_port = htons(port);
            assign(&v6, sizeof v6);
            return true;
        }
        return false;
    }
    static std::string strip_brackets(const std::string& host) {
        return host.size() > 2 && host.front() == '[' && host.back() == ']'
                   ? host.substr(1, host.size() - 2)
                   : host;
    }
    void assign(const void* address, socklen_t length) noexcept {
        std::memset(&storage_, 0, sizeof storage_);
        std::memcpy(&storage_, address, length);
        length_ = length;
    }
    template <class T>
    const T& as() const noexcept {
        return *reinterpret_cast<const T*>(&storage_);
    }

    sockaddr_storage storage_{};
    socklen_t length_ = 0;
};

namespace detail {
/// getsockname (peer = false) or getpeername of `fd`. Throws std::system_error naming the call.
inline SocketAddress socket_name(int fd, bool peer) {
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    if ((peer ? ::getpeername : ::getsockname)(fd, reinterpret_cast<sockaddr*>(&storage),
                                               &length) != 0)
        throw std::system_error(errno, std::system_category(),
                                peer ? "getpeername()" : "getsockname()");
    return SocketAddress::from_native(reinterpret_cast<const sockaddr*>(&storage), length);
}

/// Whether `addresses` holds `address` (without <algorithm>'s weight).
template <class Range>
bool contains(const Range& addresses, const SocketAddress& address) noexcept {
    for (const SocketAddress& a : addresses)
        if (a == address)
            return true;
    return false;
}
} // namespace detail

} // namespace aio

/// `fmt::format("{}", address)`: to_string().
template <>
struct fmt::formatter<aio::SocketAddress> : aio::detail::TextFormatter {
    template <class Context>
    auto format(const aio::SocketAddress& address, Context& ctx) const {
        return write(address.to_string(), ctx);
    }
};
