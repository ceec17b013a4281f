// aio::detail — the epoll backend (Linux). Level-triggered, like asyncio's selectors.
#pragma once

#include <cerrno>
#include <string>
#include <system_error>

#include <sys/epoll.h>
#include <unistd.h>

#include <aio/detail/poller.hpp>

namespace aio::detail {

class EpollPoller {
public:
    EpollPoller() : epfd_(::epoll_create1(EPOLL_CLOEXEC)) {
        if (epfd_ < 0) throw std::system_error(errno, std::system_category(), "epoll_create1");
    }
    EpollPoller(const EpollPoller&) = delete;
    EpollPoller& operator=(const EpollPoller&) = delete;
    ~EpollPoller() { ::close(epfd_); }

    void set_interest(int fd, Interest before, Interest after) {
        if (!after.any()) {
            forget(fd);
            return;
        }
        epoll_event ev{};
        ev.events = (after.read ? EPOLLIN : 0u) | (after.write ? EPOLLOUT : 0u);
        ev.data.fd = fd;
        const int op = before.any() ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
        if (::epoll_ctl(epfd_, op, fd, &ev) != 0) {
            const int err = errno;
            throw std::system_error(err, std::system_category(),
                                    "cannot watch fd " + std::to_string(fd) +
                                        " (is it open? regular files cannot be polled either)");
        }
    }

    void forget(int fd) noexcept {
        epoll_event ev{};
        ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, &ev); // EBADF/ENOENT: already gone, nothing to do
    }

    /// Fills events() and returns how many there are.
    int wait(int timeout_ms) {
        int count = 0;
        const int n = ::epoll_wait(epfd_, events_, max_events, timeout_ms);
        if (n < 0) {
            if (errno == EINTR) return 0;
            throw std::system_error(errno, std::system_category(), "epoll_wait");
        }
        for (int i = 0; i < n; ++i) {
            const auto e = events_[i].events;
            const bool failed = (e & (EPOLLERR | EPOLLHUP)) != 0;
            ready_[count++] = PollEvent{events_[i].data.fd, (e & EPOLLIN) != 0 || failed, (e & EPOLLOUT) != 0 || failed};
        }
        return count;
    }
    const PollEvent* events() const noexcept { return ready_; }

private:
    static constexpr int max_events = 256;
    int epfd_;
    epoll_event events_[max_events];
    PollEvent ready_[max_events];
};

} // namespace aio::detail
