// aio::detail — what a poller backend reports: a token and readiness bits (poller.hpp).
#pragma once

#include <cstdint>

namespace aio::detail {

/// Readiness bits, as a backend reports them and the driver keeps them.
namespace readiness {
inline constexpr std::uint8_t readable = 1;    // data, EOF, or an error to read
inline constexpr std::uint8_t writable = 2;    // room, or an error to write
inline constexpr std::uint8_t read_closed = 4; // the peer shut its write side (EPOLLRDHUP, EV_EOF)
inline constexpr std::uint8_t error = 8;       // EPOLLERR / EPOLLHUP / EV_ERROR
} // namespace readiness

struct PollEvent {
    std::uint64_t token;
    std::uint8_t ready; // readiness bits
};

} // namespace aio::detail
