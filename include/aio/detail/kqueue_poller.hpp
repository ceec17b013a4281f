// aio::detail — the kqueue backend (macOS, FreeBSD, OpenBSD, NetBSD): every fd gets an
// EVFILT_READ and an EVFILT_WRITE filter once, with EV_CLEAR (edge-triggered, as the epoll
// backend) and the driver's token as udata; both are deleted before the fd is closed.
// Compiled in CI against a shim of the kqueue API (tests/kqueue_shim); never run on Linux.
#pragma once

#include <cerrno>
#include <cstdint>
#include <string>
#include <system_error>

#include <sys/event.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

#include <aio/detail/poll_event.hpp>

namespace aio::detail {

class KqueuePoller {
public:
    KqueuePoller() : kq_(::kqueue()) {
        if (kq_ < 0) throw std::system_error(errno, std::system_category(), "kqueue");
    }
    KqueuePoller(const KqueuePoller&) = delete;
    KqueuePoller& operator=(const KqueuePoller&) = delete;
    ~KqueuePoller() { ::close(kq_); }

    void add(int fd, std::uint64_t token) {
        struct kevent changes[2];
        void* udata = reinterpret_cast<void*>(static_cast<std::uintptr_t>(token));
        EV_SET(&changes[0], fd, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, udata);
        EV_SET(&changes[1], fd, EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0, udata);
        ++control_calls_;
        if (::kevent(kq_, changes, 2, nullptr, 0, nullptr) != 0) {
            const int err = errno;
            throw std::system_error(err, std::system_category(), "cannot watch fd " + std::to_string(fd) + " (is it open?)");
        }
    }

    void remove(int fd) noexcept {
        struct kevent changes[2];
        EV_SET(&changes[0], fd, EVFILT_READ, EV_DELETE, 0, 0, nullptr);
        EV_SET(&changes[1], fd, EVFILT_WRITE, EV_DELETE, 0, 0, nullptr);
        ++control_calls_;
        for (auto& change : changes) ::kevent(kq_, &change, 1, nullptr, 0, nullptr);
    }

    int wait(int timeout_ms) {
        timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
        const int n = ::kevent(kq_, nullptr, 0, events_, max_events, timeout_ms < 0 ? nullptr : &ts);
        if (n < 0) {
            if (errno == EINTR) return 0;
            throw std::system_error(errno, std::system_category(), "kevent");
        }
        for (int i = 0; i < n; ++i) {
            const bool read = events_[i].filter == EVFILT_READ;
            std::uint8_t ready = read ? readiness::readable : readiness::writable;
            if (events_[i].flags & EV_ERROR) ready |= readiness::error | readiness::readable | readiness::writable;
            if ((events_[i].flags & EV_EOF) && read) ready |= readiness::read_closed;
            if ((events_[i].flags & EV_EOF) && !read) ready |= readiness::error;
            ready_[i] = PollEvent{static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(events_[i].udata)), ready};
        }
        return n;
    }
    const PollEvent* events() const noexcept { return ready_; }
    /// How many registration changes (kevent calls) this poller made: tests count them.
    std::uint64_t control_calls() const noexcept { return control_calls_; }

private:
    static constexpr int max_events = 256;
    std::uint64_t control_calls_ = 0;
    int kq_;
    struct kevent events_[max_events];
    PollEvent ready_[max_events];
};

} // namespace aio::detail
