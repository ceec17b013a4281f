// aio::detail — the transport under a StreamReader / StreamWriter pair: one connected socket
// (or pipe), its read buffer, its write queue and its close state, shared by the two handles.
//
// Read path (demand-driven): bytes are taken from the kernel only when a read needs more than
// the buffer holds, and they land in this transport's buffer from the I/O driver's operation
// itself (fill), so a read that is cancelled loses nothing — what arrived is there for the
// next read. Since nothing reads ahead, the buffer never holds more than the limit plus one
// chunk for readline/readuntil (asyncio pauses its reading at 2 x limit; here the kernel's
// socket buffer and TCP's window do the pausing).
//
// Write path: write() copies into the queue at most once. When nothing is queued, the first
// write of a loop turn goes to the socket at once (lowest latency for request / response);
// the later writes of the same turn are gathered and sent with one sendmsg at the end of the
// turn (the loop's turn-end list, as Redis's beforeSleep and uvloop's per-tick flush). What
// the socket does not take waits for writability in the driver (an owned IoOpNode, no task).
//
// Close: close() flushes, then closes the fd through the driver (waiters get EBADF, which
// readers see as end of file); abort() discards. When the last handle goes without either,
// the transport closes as close() does, and lives on until its queue is flushed or the loop
// closes (it is a LoopResource: the loop aborts whatever is left when it closes).
#pragma once

#include <aio/detail/algorithm.hpp>
#include <aio/detail/byte_buffer.hpp>
#include <aio/detail/io_driver.hpp>
#include <aio/detail/io_operations.hpp>
#include <aio/detail/loop_core.hpp>
#include <aio/detail/owned_wait.hpp>
#include <aio/detail/promise_base.hpp>
#include <aio/detail/waiter_list.hpp>
#include <aio/errors.hpp>
#include <aio/socket_address.hpp>

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <coroutine>
#include <cstddef>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace aio::detail {

/// What the fd is: sockets use recv / sendmsg (MSG_NOSIGNAL), pipes read / writev.
enum class StreamKind : std::uint8_t { socket, pipe };

inline constexpr std::size_t default_stream_limit = 64 * 1024;
inline constexpr std::size_t default_high_water = 64 * 1024;

class StreamTransport;

/// A server's list of its connections (close_clients, abort_clients, wait_closed).
class ConnectionSet {
public:
    virtual void on_connection_closed(StreamTransport& transport) noexcept = 0;

protected:
    ~ConnectionSet() = default;
};

/// The queue of bytes written and not yet taken by the kernel: chunks, the first partly sent.
/// Small writes are appended to the last chunk; a write of 16 KiB or more gets its own.
class WriteQueue {
public:
    bool empty() const noexcept { return bytes_ == 0; }
    std::size_t size() const noexcept { return bytes_; }

    void append(std::string_view data) {
        if (head_ < chunks_.size() && data.size() < chunk_size &&
            chunks_.back().size() + data.size() <= chunk_size) {
            chunks_.back().append(data);
        } else {
            std::string& chunk = chunks_.emplace_back();
            chunk.reserve(std::max(data.size(), chunk_size));
            chunk.append(data);
        }
        bytes_ += data.size();
    }

    /// Queues `data` from its byte `skip` on, taking the string itself when it is large (no
    /// copy). `skip` > 0 only when the queue is empty (the kernel took that much at once).
    void append(std::string&& data, std::size_t skip) {
        if (data.size() - skip < chunk_size) {
            append(std::string_view(data).substr(skip));
            return;
        }
        if (empty())
            offset_ = skip; // it becomes the head chunk
        bytes_ += data.size() - skip;
        chunks_.push_back(std::move(data));
    }

    /// Fills `iov` with the queued bytes in order; returns how many entries.
    int gather(iovec* iov, int max) const noexcept {
        int n = 0;
        for (std::size_t i = head_; i < chunks_.size() && n < max; ++i, ++n) {
            const std::size_t skip = i == head_ ? offset_ : 0;
            iov[n].iov_base = const_cast<char*>(chunks_[i].data() + skip);
            iov[n].iov_len = chunks_[i].size() - skip;
        }
        return n;
    }

    /// The kernel took `n` bytes.
    void consume(std::size_t n) noexcept {
        bytes_ -= n;
        while (n > 0) {
            const std::size_t left = chunks_[head_].size() - offset_;
            if (n < left) {
                offset_ += n;
                return;
            }
            n -= left;
            offset_ = 0;
            ++head_;
        }
        if (bytes_ == 0)
            clear();
        else if (head_ > 32 && head_ * 2 > chunks_.size()) {
            chunks_.erase(chunks_.begin(), chunks_.begin() + static_cast<std::ptrdiff_t>(head_));
            head_ = 0;
        }
    }

    void clear() noexcept {
        chunks_.clear();
        if (chunks_.capacity() > 64)
            std::vector<std::string>().swap(chunks_);
        head_ = offset_ = bytes_ = 0;
    }

    static constexpr std::size_t chunk_size = 16 * 1024;

private:
    std::vector<std::string> chunks_;
    std::size_t head_ = 0;   // first chunk not fully sent
    std::size_t offset_ = 0; // bytes of chunks_[head_] already sent
    std::size_t bytes_ = 0;
};

class StreamTransport final : private LoopResource, private TurnEndNode {
public:
    StreamTransport(LoopCore& loop, int fd, StreamKind kind, std::size_t limit,
                    std::optional<SocketAddress> peer = std::nullopt)
        : loop_(&loop), fd_(fd), kind_(kind), limit_(limit), peer_(std::move(peer)) {
        LoopResource::on_loop_close = &loop_closing;
        TurnEndNode::run = &turn_end;
        write_op_.owner = this;
        write_op_.perform = &flush_when_writable;
        write_op_.on_complete = &flush_done;
        loop.add_resource(*this);
    }
    StreamTransport(const StreamTransport&) = delete;
    StreamTransport& operator=(const StreamTransport&) = delete;

    // --- ownership --------------------------------------------------------------------------
    // refs_: every holder (handles, awaiters, the transport itself while close() flushes).
    // handles_: the user's StreamReader / StreamWriter handles; when the last goes, close().
    void add_ref() noexcept { ++refs_; }
    void release() noexcept {
        if (--refs_ == 0)
            delete this;
    }
    void add_handle() noexcept {
        ++refs_;
        ++handles_;
    }
    void release_handle() noexcept {
        if (--handles_ == 0 && state_ == State::open && loop_)
            close(); // as the user's close(): flush, then close
        release();
    }

    int fd() const noexcept { return fd_; }
    LoopCore* loop() const noexcept { return loop_; }
    StreamKind kind() const noexcept { return kind_; }

    /// In debug mode, a call from another thread than the loop's throws aio::RuntimeError.
    void check_caller(const char* what) const {
        if (loop_)
            loop_->check_thread(what);
    }

    // --- reading ------------------------------------------------------------------------------
    ByteBuffer& buffer() noexcept { return in_; }
    std::size_t limit() const noexcept { return limit_; }
    bool eof() const noexcept { return eof_; }
    bool at_eof() const noexcept { return eof_ && in_.empty(); }
    /// The read side failed (reset...): throw_read_error() says how.
    bool failed() const noexcept { return read_error_ != 0; }

    /// Marks a read in progress: asyncio's rule that one task reads a stream at a time.
    void begin_read(const char* what) {
        check_caller(what);
        if (reading_)
            throw RuntimeError(std::string(what) +
                               "() called while another task is already waiting for incoming "
                               "data on this stream; read a stream from one task at a time");
        reading_ = true;
    }
    void end_read() noexcept {
        reading_ = false;
        in_.shrink_if_empty(4 * default_stream_limit);
    }

    /// The awaitable that brings at least one more byte (or end of file) into the buffer,
    /// asking the kernel for up to `want` bytes. Throws the connection's error.
    class [[nodiscard]] Fill : public IoAwaiter {
    public:
        Fill(StreamTransport& transport, std::size_t want) noexcept
            : transport_(transport), want_(want) {}

        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            if (transport_.eof_ || transport_.read_error_ || transport_.fd_ < 0) {
                completed = true;
                return false;
            }
            return start_operation(h, transport_.fd_, IoDirection::read, &fill_once);
        }

        void await_resume() {
            if (!completed)
                throw_cancelled(*task);
            if (error == ENOMEM && transport_.read_error_ != ENOMEM)
                throw std::bad_alloc(); // the buffer could not grow: this read fails, not the
                                        // stream
            if (error == EBADF || transport_.fd_ < 0)
                transport_.eof_ = true; // closed on our side: end of file, as asyncio
            if (transport_.read_error_ && transport_.in_.empty())
                transport_.throw_read_error();
        }

    private:
        static bool fill_once(IoOpNode& node, IoRegistration& reg) noexcept {
            auto& self = static_cast<Fill&>(node);
            StreamTransport& t = self.transport_;
            char* into;
            try {
                into = t.in_.prepare(self.want_);
            } catch (...) {
                node.error = ENOMEM;
                return true;
            }
            const std::size_t room = self.want_; // no read-ahead past what was asked for
            for (;;) {
                const ssize_t n = t.kind_ == StreamKind::socket ? ::recv(reg.fd, into, room, 0)
                                                                : ::read(reg.fd, into, room);
                if (n > 0) {
                    t.in_.commit(static_cast<std::size_t>(n));
                    IoDriver::after_transfer(reg, IoDirection::read, static_cast<std::size_t>(n),
                                             room);
                    return true;
                }
                if (n == 0) {
                    t.eof_ = true;
                    return true;
                }
                const Failure failure = classify_failure(node, reg, IoDirection::read);
                if (failure == Failure::failed) {
                    t.read_error_ = node.error;
                    return true;
                }
                if (failure == Failure::wait)
                    return false;
            }
        }

    protected:
        StreamTransport& transport_;

    private:
        std::size_t want_;
    };

    /// Asks the kernel for up to `want` bytes: at least 16 KiB, at most max(limit, 1 MiB) a
    /// time (a read(n) with a huge n fills the buffer step by step, never all at once).
    Fill fill(std::size_t want) noexcept { return Fill(*this, fill_size(want)); }
    std::size_t fill_size(std::size_t want) const noexcept {
        const std::size_t most = std::max(limit_ + 1024, std::size_t{1} << 20);
        return std::min(std::max(want, std::size_t{16 * 1024}), most);
    }

    /// co_await read_into(buffer, most): see StreamReader::read_into. A plain awaiter, not a
    /// coroutine: a read costs no frame, and no string of its own (the bytes go from the
    /// stream's buffer to the caller's). Holds a reference (the stream outlives the read) and
    /// the one-reader mark from the start of the await until it returns.
    class [[nodiscard]] ReadInto final : public Fill {
    public:
        ReadInto(StreamTransport& transport, std::string& buffer, std::size_t most) noexcept
            : Fill(transport, transport.fill_size(most)), buffer_(buffer), most_(most) {
            transport_.add_ref();
        }
        ReadInto(ReadInto&& other) noexcept // before the await only (IoAwaiter)
            : Fill(std::move(other)), buffer_(other.buffer_), most_(other.most_) {
            transport_.add_ref();
        }
        ~ReadInto() {
            unlink_detached(*this); // first: releasing may close the fd and wake its waiters
            if (reading_)
                transport_.end_read();
            transport_.release();
        }

        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            StreamTransport& t = transport_;
            PromiseBase& current = running_task(h);
            t.begin_read("read_into");
            reading_ = true;
            task = &current;
            if (current.cancel_pending())
                return false; // await_resume delivers it; what is buffered stays
            if (most_ == 0 || !t.in_.empty()) {
                completed = true; // already there: no syscall
                return false;
            }
            return Fill::await_suspend(h);
        }

        std::size_t await_resume() {
            StreamTransport& t = transport_;
            Fill::await_resume(); // cancellation; the connection's error once nothing is buffered
            const std::size_t n = std::min(most_, t.in_.size());
            buffer_.append(t.in_.view().substr(0, n)); // bad_alloc: the bytes stay in the stream
            t.in_.consume(n);
            reading_ = false;
            t.end_read();
            return n;
        }

    private:
        std::string& buffer_;
        std::size_t most_;
        bool reading_ = false;
    };

    [[noreturn]] void throw_read_error() const {
        throw std::system_error(read_error_, std::system_category(),
                                describe_call(kind_ == StreamKind::socket ? "recv" : "read"));
    }

    // --- writing ------------------------------------------------------------------------------
    std::size_t write_buffer_size() const noexcept { return out_.size(); }
    std::size_t high_water() const noexcept { return high_; }
    std::size_t low_water() const noexcept { return low_; }
    void set_write_buffer_limits(std::size_t high, std::size_t low) {
        if (low > high)
            throw ValueError("set_write_buffer_limits(high, low): low (" + std::to_string(low) +
                             ") must not exceed high (" + std::to_string(high) + ")");
        high_ = high;
        low_ = low;
        wake_drainers_if_below();
    }
    int lost_error() const noexcept { return lost_error_; }
    bool is_closing() const noexcept { return state_ != State::open; }
    bool is_closed() const noexcept { return state_ == State::closed; }

    void write(std::string_view data) { write_bytes(data); }
    /// As write(string_view), keeping a large string itself instead of a copy when the kernel
    /// does not take it all at once.
    void write(std::string&& data) { write_bytes(std::move(data)); }

    /// Shuts the write side down once the queue is flushed (shutdown(SHUT_WR); a pipe closes).
    void write_eof() {
        check_caller("write_eof");
        if (eof_requested_ || state_ != State::open)
            return;
        eof_requested_ = true;
        if (out_.empty())
            send_eof();
    }

    /// Flushes what is queued, then closes. Idempotent.
    void close() {
        if (state_ != State::open)
            return;
        state_ = State::closing;
        if (out_.empty() || lost_error_) {
            finish_close();
            return;
        }
        add_ref(); // kept alive until flushed (the handles may all go meanwhile)
        keepalive_ = true;
        if (!write_op_.linked())
            loop_->at_turn_end(*this);
    }

    /// Closes now, discarding what is queued. Idempotent.
    void abort() noexcept {
        if (state_ == State::closed)
            return;
        out_.clear();
        finish_close();
    }

    // --- waiting for the write side -------------------------------------------------------
    /// co_await drain(): see StreamWriter::drain.
    class [[nodiscard]] Drain {
    public:
        explicit Drain(StreamTransport& transport) noexcept : transport_(transport) {
            transport_.add_ref();
        }
        Drain(Drain&& other) noexcept : transport_(other.transport_) { transport_.add_ref(); }
        Drain(const Drain&) = delete;
        Drain& operator=(const Drain&) = delete;
        ~Drain() {
            unlink_detached(node_);
            transport_.release();
        }

        bool await_ready() const noexcept { return false; }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            PromiseBase& task = running_task(h);
            node_.task = &task;
            StreamTransport& t = transport_;
            if (t.lost_error_)
                return false;
            if (t.state_ != State::open) {
                after_close_ = true; // asyncio: ConnectionResetError
                return false;
            }
            if (t.out_.size() <= t.high_) {
                // A yield even below the mark: a write loop lets the loop run, and sees a lost
                // connection on its next drain (asyncio's drain may never yield).
                yielded_ = true;
                task.resume_point_ = h;
                task.loop_->schedule(task);
                return true;
            }
            if (task.cancel_pending())
                return false;
            t.drainers_.push_back(node_);
            task.park(h, WaitRef::to(*this));
            return true;
        }
        void await_resume() {
            PromiseBase& task = *node_.task;
            if (yielded_ || node_.state == WaitState::idle)
                task.throw_if_cancelled();
            else if (node_.state != WaitState::woken)
                throw_cancelled(task);
            if (transport_.lost_error_)
                transport_.throw_lost();
            if (after_close_)
                throw std::system_error(
                    ECONNRESET, std::system_category(),
                    "drain() after close() or abort(): the connection is closed");
        }
        bool on_cancel(const std::string&) noexcept { return unlink_cancelled(node_); }
        void detach() noexcept { unlink_detached(node_); }

    private:
        StreamTransport& transport_;
        WaitNode node_;
        bool yielded_ = false;
        bool after_close_ = false;
    };

    /// co_await wait_closed(): until the fd is closed; throws the error that lost the
    /// connection, if one did.
    OwnedWait<StreamTransport> wait_closed() noexcept {
        return OwnedWait<StreamTransport>(
            *this, closers_, [](const StreamTransport& t) { return t.state_ == State::closed; },
            [](const StreamTransport& t) {
                if (t.lost_error_)
                    t.throw_lost();
            },
            "wait_closed");
    }

    [[noreturn]] void throw_lost() const {
        throw std::system_error(lost_error_, std::system_category(),
                                describe_call(kind_ == StreamKind::socket ? "send" : "write"));
    }

    // --- addresses ---------------------------------------------------------------------------
    const SocketAddress& peername() {
        if (!peer_)
            peer_ = socket_name(fd_, true);
        return *peer_;
    }
    const SocketAddress& sockname() {
        if (!local_)
            local_ = socket_name(fd_, false);
        return *local_;
    }

    // --- a server's connection list -------------------------------------------------------
    void join(ConnectionSet& set) noexcept { set_ = &set; }
    /// The set is going away: it is no longer told.
    void leave_set() noexcept {
        set_ = nullptr;
        set_prev = set_next = nullptr;
    }
    StreamTransport* set_prev = nullptr;
    StreamTransport* set_next = nullptr;

private:
    enum class State : std::uint8_t { open, closing, closed };

    ~StreamTransport() {
        if (state_ != State::closed)
            finish_close();
        if (loop_) {
            loop_->remove_resource(*this);
            loop_->cancel_turn_end(*this);
        }
    }

    template <class Bytes> // std::string_view, or std::string&& (kept without a copy)
    void write_bytes(Bytes&& data) {
        check_caller("write");
        if (eof_requested_)
            throw RuntimeError("write() after write_eof(): the stream's write side is shut down");
        if (state_ != State::open)
            throw RuntimeError(
                "write() after close() or abort(): the bytes would be lost; write before closing");
        if (data.empty() || lost_error_)
            return; // lost: drain() and wait_closed() report it, as asyncio
        if (!out_.empty() || corked_ || write_op_.linked()) {
            enqueue(std::forward<Bytes>(data), 0);
            if (!write_op_.linked())
                loop_->at_turn_end(*this);
            return;
        }
        // Nothing queued: the first write of the turn goes to the socket at once.
        IoRegistration* reg = registration();
        if (!reg)
            return;
        std::size_t sent = 0;
        if (reg->ready & readiness::writable) {
            const ssize_t n = send_now(data.data(), data.size());
            if (n < 0) {
                if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                    connection_lost(errno);
                    return;
                }
                IoDriver::clear_ready(*reg, IoDirection::write);
            } else {
                sent = static_cast<std::size_t>(n);
            }
        }
        corked_ = true; // later writes of this turn are gathered
        loop_->at_turn_end(*this);
        if (sent == data.size())
            return;
        enqueue(std::forward<Bytes>(data), sent);
        if (sent > 0)
            IoDriver::clear_ready(*reg, IoDirection::write); // a short send: the socket is full
        wait_writable(*reg);
    }
    void enqueue(std::string_view data, std::size_t skip) { out_.append(data.substr(skip)); }
    void enqueue(std::string&& data, std::size_t skip) { out_.append(std::move(data), skip); }

    std::string describe_call(const char* call) const {
        std::string text = std::string(call) + " on fd " + std::to_string(fd_);
        if (peer_ && !peer_->empty())
            text += " (peer " + peer_->to_string() + ")";
        return text;
    }

    IoRegistration* registration() {
        if (!loop_ || fd_ < 0)
            return nullptr;
        try {
            return &loop_->io().registration(fd_);
        } catch (const std::system_error& e) {
            connection_lost(e.code().value());
            return nullptr;
        }
    }

    ssize_t send_now(const char* data, std::size_t size) noexcept {
        ssize_t n;
        do {
            n = kind_ == StreamKind::socket ? ::send(fd_, data, size, io::no_sigpipe)
                                            : ::write(fd_, data, size);
        } while (n < 0 && errno == EINTR);
        return n;
    }

    // Sends what the queue holds until it is empty or the kernel is full. True when done
    // (empty, or the connection failed); false on EAGAIN (readiness cleared).
    bool flush(IoRegistration& reg) noexcept {
        while (!out_.empty()) {
            iovec iov[64];
            const int count = out_.gather(iov, 64);
            std::size_t asked = 0;
            for (int i = 0; i < count; ++i)
                asked += iov[i].iov_len;
            ssize_t n;
            if (kind_ == StreamKind::socket) {
                msghdr message{};
                message.msg_iov = iov;
                message.msg_iovlen = static_cast<decltype(message.msg_iovlen)>(count);
                n = ::sendmsg(fd_, &message, io::no_sigpipe);
            } else {
                n = ::writev(fd_, iov, count);
            }
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    IoDriver::clear_ready(reg, IoDirection::write);
                    return false;
                }
                connection_lost(errno);
                return true;
            }
            out_.consume(static_cast<std::size_t>(n));
            if (static_cast<std::size_t>(n) < asked) {
                // Full: the queue waits for the next edge (cleared even with the error bit up,
                // since the queued flush is only tried on an event).
                IoDriver::clear_ready(reg, IoDirection::write);
                return out_.empty();
            }
        }
        return true;
    }

    void wait_writable(IoRegistration& reg) noexcept {
        if (!write_op_.linked())
            IoDriver::queue_owned(reg, IoDirection::write, write_op_);
    }

    // The driver's perform for write_op_: the socket became writable.
    static bool flush_when_writable(IoOpNode& node, IoRegistration& reg) noexcept {
        StreamTransport& t = owner_of(node);
        const bool done = t.flush(reg);
        if (!done)
            t.wake_drainers_if_below(); // progress: drain() may return before the queue is empty
        return done;
    }
    // write_op_ left the driver's list (flushed, failed, or the fd was closed under it).
    static void flush_done(IoOpNode& node) {
        StreamTransport& t = owner_of(node);
        if (node.error == EBADF && !t.lost_error_)
            t.connection_lost(EBADF);
        t.wake_drainers_if_below();
        if (t.state_ == State::closing || t.eof_requested_)
            t.loop_->at_turn_end(t); // close / shut down there, not inside the driver's dispatch
    }
    static StreamTransport& owner_of(IoOpNode& node) noexcept {
        return *static_cast<FlushOp&>(node).owner;
    }

    // The end of the turn: flush what this turn wrote, then close / shut down if asked.
    static void turn_end(TurnEndNode& node) {
        StreamTransport& t = static_cast<StreamTransport&>(node);
        t.add_ref(); // closing may drop the last other reference
        t.corked_ = false;
        if (!t.out_.empty() && !t.write_op_.linked() && !t.lost_error_ && t.fd_ >= 0) {
            if (IoRegistration* reg = t.registration()) {
                if (!t.flush(*reg))
                    t.wait_writable(*reg);
                t.wake_drainers_if_below();
            }
        }
        if (t.out_.empty() || t.lost_error_) {
            if (t.eof_requested_ && !t.eof_sent_ && t.state_ == State::open)
                t.send_eof();
            if (t.state_ == State::closing)
                t.finish_close();
        }
        t.release();
    }

    void send_eof() noexcept {
        eof_sent_ = true;
        if (kind_ == StreamKind::socket) {
            if (fd_ >= 0)
                ::shutdown(fd_, SHUT_WR);
        } else {
            finish_close(); // a pipe's write end: closing it is its end of file
        }
    }

    void wake_drainers_if_below() {
        if (out_.size() <= low_ || lost_error_ || state_ == State::closed)
            while (!drainers_.empty())
                wake(drainers_.pop_front());
    }

    void connection_lost(int error) noexcept {
        if (!lost_error_)
            lost_error_ = error;
        out_.clear();
        if (write_op_.linked())
            write_op_.list->remove(write_op_);
        while (!drainers_.empty())
            wake(drainers_.pop_front());
    }

    void finish_close() noexcept {
        state_ = State::closed;
        out_.clear();
        if (write_op_.linked())
            write_op_.list->remove(write_op_);
        if (fd_ >= 0) {
            const int fd = std::exchange(fd_, -1);
            if (loop_)
                loop_->io().close(fd); // pending reads end (EBADF: end of file to a reader)
            else
                ::close(fd);
        }
        while (!drainers_.empty())
            wake(drainers_.pop_front());
        while (!closers_.empty())
            wake(closers_.pop_front());
        if (ConnectionSet* set = std::exchange(set_, nullptr))
            set->on_connection_closed(*this);
        if (std::exchange(keepalive_, false))
            release(); // last: it may delete this (callers hold a reference of their own)
    }

    static void loop_closing(LoopResource& resource) noexcept {
        auto& t = static_cast<StreamTransport&>(resource);
        t.add_ref();
        t.abort();
        t.loop_ = nullptr;
        t.release();
    }

    LoopCore* loop_;
    int fd_;
    StreamKind kind_;
    State state_ = State::open;
    bool reading_ = false;
    bool eof_ = false;
    bool corked_ = false;
    bool eof_requested_ = false;
    bool eof_sent_ = false;
    bool keepalive_ = false; // a reference of its own while close() flushes
    int read_error_ = 0;
    int lost_error_ = 0;
    std::uint32_t refs_ = 0;
    std::uint32_t handles_ = 0;
    std::size_t limit_;
    std::size_t high_ = default_high_water;
    std::size_t low_ = default_high_water / 4;
    ByteBuffer in_;
    WriteQueue out_;
    struct FlushOp : IoOpNode {
        StreamTransport* owner = nullptr;
    };
    FlushOp write_op_;
    WaitList drainers_;
    WaitList closers_;
    std::optional<SocketAddress> peer_;
    std::optional<SocketAddress> local_;
    ConnectionSet* set_ = nullptr;
};

/// A counted reference to a transport, for the handles (counts as a handle) or for internal
/// holders.
class TransportRef {
public:
    TransportRef() noexcept = default;
    explicit TransportRef(StreamTransport* transport) noexcept : transport_(transport) {
        if (transport_)
            transport_->add_handle();
    }
    TransportRef(const TransportRef& other) noexcept : TransportRef(other.transport_) {}
    TransportRef(TransportRef&& other) noexcept
        : transport_(std::exchange(other.transport_, nullptr)) {}
    TransportRef& operator=(TransportRef other) noexcept {
        std::swap(transport_, other.transport_);
        return *this;
    }
    ~TransportRef() {
        if (transport_)
            transport_->release_handle();
    }
    StreamTransport* get() const noexcept { return transport_; }
    StreamTransport* operator->() const noexcept { return transport_; }
    StreamTransport& operator*() const noexcept { return *transport_; }
    explicit operator bool() const noexcept { return transport_ != nullptr; }

private:
    StreamTransport* transport_ = nullptr;
};

} // namespace aio::detail
