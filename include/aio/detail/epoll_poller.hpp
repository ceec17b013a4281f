// aio::detail — the epoll backend (Linux): every fd is added once with
// EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET and the driver's token, and removed before it is
// closed; no epoll_ctl happens per wait.
#pragma once

#include <cerrno>
#include <cstdint>
#include <string>
#include <system_error>

#include <sys/epoll.h>
#include <unistd.h>

#include <aio/detail/poll_event.hpp>

namespace aio::detail {

class EpollPoller {
public:
    EpollPoller() : epfd_(::epoll_create1(EPOLL_CLOEXEC)) {
        if (epfd_ < 0) throw std::system_error(errno, std::system_category(), "epoll_create1");
    }
    EpollPoller(const EpollPoller&) = delete;
    EpollPoller& operator=(const EpollPoller&) = delete;
    ~EpollPoller() { ::close(epfd_); }

    void add(int fd, std::uint64_t token) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.u64 = token;
        ++control_calls_;
        if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0) return;
        int err = errno;
        // Still registered under an older token: the fd number was closed behind the driver's
        // back while a dup of it kept the old file open. Take it over.
        if (err == EEXIST && ::epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) == 0) return;
        if (err == EEXIST) err = errno;
        throw std::system_error(err, std::system_category(),
                                "cannot watch fd " + std::to_string(fd) +
                                    (err == EPERM ? " (regular files and directories cannot be polled)"
                                                  : " (is it open?)"));
    }

    void remove(int fd) noexcept {
        epoll_event ev{};
        ++control_calls_;
        ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, &ev); // EBADF/ENOENT: already gone, nothing to do
    }

    int wait(int timeout_ms) {
        const int n = ::epoll_wait(epfd_, events_, max_events, timeout_ms);
        if (n < 0) {
            if (errno == EINTR) return 0;
            throw std::system_error(errno, std::system_category(), "epoll_wait");
        }
        for (int i = 0; i < n; ++i) {
            const std::uint32_t e = events_[i].events;
            std::uint8_t ready = 0;
            if (e & (EPOLLERR | EPOLLHUP)) ready |= readiness::error | readiness::readable | readiness::writable;
            if (e & EPOLLIN) ready |= readiness::readable;
            if (e & EPOLLOUT) ready |= readiness::writable;
            if (e & EPOLLRDHUP) ready |= readiness::read_closed | readiness::readable;
            ready_[i] = PollEvent{events_[i].data.u64, ready};
        }
        return n;
    }
    const PollEvent* events() const noexcept { return ready_; }
    /// How many registration changes (epoll_ctl calls) this poller made: tests count them.
    std::uint64_t control_calls() const noexcept { return control_calls_; }

private:
    static constexpr int max_events = 256;
    std::uint64_t control_calls_ = 0;
    int epfd_;
    epoll_event events_[max_events];
    PollEvent ready_[max_events];
};

} // namespace aio::detail
