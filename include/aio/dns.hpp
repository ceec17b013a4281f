// aio — name resolution: loop.getaddrinfo (asyncio's loop.getaddrinfo), run on the loop's
// default executor because getaddrinfo(3) blocks.
//
//   std::vector<aio::AddrInfo> infos = co_await loop.getaddrinfo("example.org", 443);
//   for (const aio::AddrInfo& info : infos) fmt::print("{}\n", info.address);
#pragma once

#include <aio/detail/deferred.hpp>
#include <aio/event_loop.hpp>
#include <aio/socket_address.hpp>
#include <aio/to_thread.hpp>

#include <netdb.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace aio {

/// What to ask getaddrinfo for (struct addrinfo's hints): family AF_UNSPEC / AF_INET /
/// AF_INET6, type SOCK_STREAM / SOCK_DGRAM (0: any), protocol, flags (AI_PASSIVE,
/// AI_NUMERICHOST, AI_CANONNAME...).
struct AddrInfoHints {
    int family = AF_UNSPEC;
    int type = 0;
    int protocol = 0;
    int flags = 0;
};

/// One result of getaddrinfo (asyncio's 5-tuple, with the address as a SocketAddress).
struct AddrInfo {
    int family = AF_UNSPEC;
    int type = 0;
    int protocol = 0;
    std::string canonical_name; // set on the first result when AI_CANONNAME was asked for
    SocketAddress address;
};

/// The error category of getaddrinfo's EAI_* codes: message() is gai_strerror's.
inline const std::error_category& gai_category() noexcept {
    class Category final : public std::error_category {
    public:
        const char* name() const noexcept override { return "getaddrinfo"; }
        std::string message(int code) const override { return ::gai_strerror(code); }
    };
    static const Category category;
    return category;
}

namespace detail {

/// getaddrinfo(3), blocking: what the executor runs. Throws std::system_error: EAI_* codes in
/// gai_category() (EAI_NONAME: "Name or service not known"), EAI_SYSTEM as the errno.
template <class D = void> // compiled only where used (getaddrinfo passes its Port)
std::vector<deferred_t<D, AddrInfo>> resolve(const std::string& host, const std::string& port,
                                             AddrInfoHints hints) {
    addrinfo want{};
    want.ai_family = hints.family;
    want.ai_socktype = hints.type;
    want.ai_protocol = hints.protocol;
    want.ai_flags = hints.flags;
    addrinfo* found = nullptr;
    const int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(),
                                 port.empty() ? nullptr : port.c_str(), &want, &found);
    const std::string what = "getaddrinfo(" + (host.empty() ? std::string("<any>") : host) + ", " +
                             (port.empty() ? std::string("<none>") : port) + ")";
    if (rc == EAI_SYSTEM)
        throw std::system_error(errno, std::system_category(), what);
    if (rc != 0)
        throw std::system_error(rc, gai_category(), what);
    std::vector<deferred_t<D, AddrInfo>> infos;
    try {
        for (const addrinfo* ai = found; ai; ai = ai->ai_next) {
            if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
                continue;
            infos.push_back(AddrInfo{ai->ai_family, ai->ai_socktype, ai->ai_protocol,
                                     ai->ai_canonname ? ai->ai_canonname : "",
                                     SocketAddress::from_native(ai->ai_addr, ai->ai_addrlen)});
        }
    } catch (...) {
        ::freeaddrinfo(found);
        throw;
    }
    ::freeaddrinfo(found);
    return infos;
}

} // namespace detail

template <class Port>
Task<std::vector<AddrInfo>> EventLoop::getaddrinfo(std::string host, const Port& port,
                                                   AddrInfoHints hints) {
    std::string service;
    if constexpr (std::is_integral_v<Port>)
        service = std::to_string(port);
    else
        service = std::string(std::string_view(port));
    return run_in_executor(nullptr, &detail::resolve<Port>, std::move(host), std::move(service),
                           hints);
}

template <class Port>
Task<std::vector<AddrInfo>> EventLoop::getaddrinfo(std::string host, const Port& port) {
    return getaddrinfo(std::move(host), port, AddrInfoHints{});
}

} // namespace aio
