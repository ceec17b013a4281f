// aio::detail — picks the OS poller. Every backend offers the same small interface:
//
//   void set_interest(int fd, Interest before, Interest after);  // throws std::system_error
//   void forget(int fd) noexcept;                                 // fd closed or gone: drop quietly
//   int wait(int timeout_ms);                  // -1 blocks; returns the number of events (0 on EINTR)
//   const PollEvent* events() const;           // what the last wait() found
//
// The loop keeps the per-fd callbacks; the poller only knows which directions to watch.
#pragma once

#include <aio/config.hpp>

namespace aio::detail {

struct Interest {
    bool read = false;
    bool write = false;
    bool any() const noexcept { return read || write; }
};

struct PollEvent {
    int fd;
    bool readable; // also set on error / hang-up, so the reader sees EOF or the error
    bool writable;
};

} // namespace aio::detail

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
