// aio::detail — the readiness backend the I/O driver (io_driver.hpp) sits on, chosen at
// compile time: epoll on Linux, kqueue on macOS/BSD. Each backend is a small class:
//
//   void add(int fd, std::uint64_t token);   // watch fd for read and write readiness,
//                                            // edge-triggered, once; throws std::system_error
//   void remove(int fd) noexcept;            // stop watching (before the fd is closed)
//   int wait(int timeout_ms);                // -1 blocks; fills events(), returns how many
//                                            // (0 on EINTR); throws std::system_error
//   const PollEvent* events() const noexcept;
//
// The token is the driver's (its registration's address and generation); a backend hands it
// back unchanged and knows nothing else about the fd. Readiness is edge-triggered: a backend
// reports a direction when it becomes ready, and the driver remembers it until an operation
// sees EAGAIN. A completion-based backend (io_uring) would not fit this interface; it would
// replace the driver's operations instead (see io_driver.hpp).
#pragma once

#include <aio/config.hpp>
#include <aio/detail/poll_event.hpp>

#if AIO_POLLER_EPOLL
#include <aio/detail/epoll_poller.hpp>
namespace aio::detail {
using Poller = EpollPoller;
}
#elif AIO_POLLER_KQUEUE
#include <aio/detail/kqueue_poller.hpp>
namespace aio::detail {
using Poller = KqueuePoller;
}
#endif
