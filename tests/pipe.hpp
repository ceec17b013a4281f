// A non-blocking, close-on-exec pipe for the I/O tests.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

namespace aio_test {

struct Pipe {
    int r = -1;  // read end
    int w = -1;  // write end

    Pipe() {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
            throw std::system_error(errno, std::generic_category(), "pipe2");
        r = fds[0];
        w = fds[1];
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
    ~Pipe() {
        close_read();
        close_write();
    }

    void close_read() noexcept {
        if (r >= 0) ::close(r);
        r = -1;
    }
    void close_write() noexcept {
        if (w >= 0) ::close(w);
        w = -1;
    }

    // Writes all of s (pipes this small never block).
    void write(const std::string& s) const {
        auto n = ::write(w, s.data(), s.size());
        if (n != static_cast<ssize_t>(s.size()))
            throw std::system_error(errno, std::generic_category(), "write");
    }

    // Reads what is available (up to 4 KiB); empty when nothing is.
    std::string read_available() const {
        char buf[4096];
        auto n = ::read(r, buf, sizeof buf);
        return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
    }
};

inline bool fd_is_open(int fd) noexcept { return ::fcntl(fd, F_GETFD) != -1; }

} // namespace aio_test
