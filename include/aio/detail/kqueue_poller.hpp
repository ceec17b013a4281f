// aio::detail — the kqueue backend (macOS, FreeBSD, OpenBSD, NetBSD).
#pragma once

#include <cerrno>
#include <string>
#include <system_error>

#include <sys/event.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

#include <aio/detail/poller.hpp>

namespace aio::detail {

class KqueuePoller {
public:
    KqueuePoller() : kq_(::kqueue()) {
        if (kq_ < 0) throw std::system_error(errno, std::system_category(), "kqueue");
    }
    KqueuePoller(const KqueuePoller&) = delete;
    KqueuePoller& operator=(const KqueuePoller&) = delete;
    ~KqueuePoller() { ::close(kq_); }

    void set_interest(int fd, Interest before, Interest after) {
        struct kevent changes[2];
        int n = 0;
        if (before.read != after.read)
            EV_SET(&changes[n++], fd, EVFILT_READ, after.read ? EV_ADD : EV_DELETE, 0, 0, nullptr);
        if (before.write != after.write)
            EV_SET(&changes[n++], fd, EVFILT_WRITE, after.write ? EV_ADD : EV_DELETE, 0, 0, nullptr);
        if (n == 0) return;
        if (::kevent(kq_, changes, n, nullptr, 0, nullptr) != 0 && (after.read || after.write)) {
            const int err = errno;
            throw std::system_error(err, std::system_category(),
                                    "cannot watch fd " + std::to_string(fd) + " (is it open?)");
        }
    }

    void forget(int fd) noexcept {
        struct kevent changes[2];
        EV_SET(&changes[0], fd, EVFILT_READ, EV_DELETE, 0, 0, nullptr);
        EV_SET(&changes[1], fd, EVFILT_WRITE, EV_DELETE, 0, 0, nullptr);
        for (auto& change : changes) ::kevent(kq_, &change, 1, nullptr, 0, nullptr);
    }

    /// Fills events() and returns how many there are.
    int wait(int timeout_ms) {
        int count = 0;
        timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
        const int n = ::kevent(kq_, nullptr, 0, events_, max_events, timeout_ms < 0 ? nullptr : &ts);
        if (n < 0) {
            if (errno == EINTR) return 0;
            throw std::system_error(errno, std::system_category(), "kevent");
        }
        for (int i = 0; i < n; ++i) {
            const int fd = static_cast<int>(events_[i].ident);
            const bool failed = (events_[i].flags & (EV_ERROR | EV_EOF)) != 0;
            const bool read = events_[i].filter == EVFILT_READ;
            ready_[count++] = PollEvent{fd, read || failed, !read || failed};
        }
        return count;
    }
    const PollEvent* events() const noexcept { return ready_; }

private:
    static constexpr int max_events = 256;
    int kq_;
    struct kevent events_[max_events];
    PollEvent ready_[max_events];
};

} // namespace aio::detail
