// aio::detail — a non-blocking, close-on-exec pipe: the wake-up channel of the threadsafe
// inbox (where there is no eventfd) and of the signal driver.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace aio::detail {

/// Fills `fds` (read end, write end). Throws std::system_error.
inline void open_nonblocking_pipe(int (&fds)[2]) {
#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
        throw std::system_error(errno, std::system_category(), "pipe2");
#else
    if (::pipe(fds) != 0)
        throw std::system_error(errno, std::system_category(), "pipe");
    for (int fd : fds) {
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
#endif
}

} // namespace aio::detail
