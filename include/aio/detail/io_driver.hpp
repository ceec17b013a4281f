// aio::detail — the loop's I/O driver: one registration per fd, readiness remembered per
// direction, any number of waiters per direction, and the operations (recv, send, sendmsg,
// accept, connect, read, write, close) that everything above it — streams, servers,
// subprocess pipes — calls instead of the poller.
//
// The contract (what a backend and the code above it may rely on):
//
// * Registration. `registration(fd)` finds or makes the fd's IoRegistration: the first call
//   registers the fd with the kernel once (epoll: EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
//   kqueue: both filters with EV_CLEAR), with the registration's address and generation as the
//   token. It stays registered until `deregister(fd)` or `close(fd)`; nothing is added or
//   removed per wait. The driver owns registrations; they live as long as the loop and are
//   reused for later fds (their generation is bumped, so an event still in flight for an old
//   fd never reaches a new fd with the same number).
//
// * Readiness. An event sets the direction's bit; it stays set until an operation sees EAGAIN
//   (Tokio's scheduled I/O, Asio's speculative reactor). An operation tries its syscall at once
//   when the bit is set and only waits when the kernel said EAGAIN. A plain wait
//   (wait_readable) returns at once when the bit is set and no earlier wait was handed the same
//   readiness; otherwise it asks poll(2) once whether the fd is still ready (the caller's own
//   read may have drained it, and an edge-triggered registration will not say so again).
//
// * Waiters. Each direction has a FIFO of IoOpNodes living in the awaiting coroutine's frame
//   (no allocation per wait). On an event the driver performs the queued operations in order:
//   each one done (result or error) leaves the list and its task is scheduled once, as a timer
//   is; the first that hits EAGAIN stops the round, and the rest wait for the next event. Plain
//   waits are all woken. Cancelling a waiter unlinks its node and touches no other.
//
// * Callbacks (EventLoop::add_reader / add_writer) coexist with waiters on the same fd and
//   keep asyncio's level-triggered meaning: the callback runs once per loop iteration while
//   the fd stays ready (checked with poll(2) after each call).
//
// * Close. `close(fd)` first ends the fd's pending operations — each completes with EBADF
//   (std::system_error), callbacks are dropped — then deregisters the fd and closes it.
//   `shutdown()` (loop close) drops everything without waking anyone; the loop has already
//   detached every suspended task by then.
//
// * Cancellation and results. An operation that completed is never lost to a cancellation:
//   its await_resume returns the result and the cancellation is delivered at the task's next
//   suspension point. This is what makes stream reads cancel-safe.
//
// A completion-based backend (io_uring) implements the same operations by submission and
// completion: `recv` submits an SQE pointing at the caller's buffer, the CQE's result
// completes the IoOpNode exactly as `perform` does here, and a cancelled node issues an
// asynchronous cancel (IORING_OP_ASYNC_CANCEL) and may still complete with data, which
// await_resume then returns. Because the kernel owns the buffer until the CQE arrives, such a
// backend must drain (wait for the CQEs of) every submitted operation before close(fd) returns
// and before the loop frees frames at close; `shutdown()` is where that drain goes. The
// backend is a compile-time choice (poller.hpp); a runtime probe would pick between two
// drivers with this interface when the loop is constructed.
#pragma once

#include <aio/config.hpp>
#include <aio/detail/callback.hpp>
#include <aio/detail/pod_array.hpp>
#include <aio/detail/poller.hpp>
#include <aio/detail/promise_base.hpp>
#include <aio/detail/ready_queue.hpp>
#include <aio/detail/waiter_list.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <system_error>

namespace aio::detail {

class IoDriver;
struct IoRegistration;

enum class IoDirection : std::uint8_t { read = 0, write = 1 };

inline constexpr std::uint8_t readiness_bit(IoDirection direction) noexcept {
    return direction == IoDirection::read ? readiness::readable : readiness::writable;
}

/// One pending operation or wait on an fd: a WaitNode (so cancellation and loop close treat it
/// like any other wait) plus what the driver needs to complete it.
struct IoOpNode : WaitNode {
    /// Tries the operation once the fd is ready: true when done (result or error set), false on
    /// EAGAIN (the driver has cleared the readiness bit; the node stays queued).
    bool (*perform)(IoOpNode& self, IoRegistration& reg) = nullptr;
    /// For a node no task waits on (task == nullptr: a stream's pending flush, owned by the
    /// stream): called instead of waking a task once the node is done and unlinked.
    void (*on_complete)(IoOpNode& self) = nullptr;
    std::ptrdiff_t result = 0;
    int error = 0; // errno of a failed operation; EBADF when the fd was closed through the driver
    bool completed = false;
};

/// A done node leaves through here: its task is scheduled, or its owner told.
inline void complete(IoOpNode& op) {
    op.completed = true;
    if (op.task) {
        wake(op);
    } else {
        op.state = WaitState::woken;
        op.on_complete(op);
    }
}

/// The base of the awaitables that wait on the I/O driver (operations, wait_readable): an
/// IoOpNode that unlinks itself when cancelled, detached or destroyed. Movable until awaited
/// (e.g. into aio::wait_for), never after.
class IoAwaiter : protected IoOpNode {
public:
    IoAwaiter() noexcept = default;
    IoAwaiter(IoAwaiter&&) noexcept : IoOpNode() {}
    IoAwaiter(const IoAwaiter&) = delete;
    IoAwaiter& operator=(const IoAwaiter&) = delete;
    ~IoAwaiter() { unlink_detached(*this); }

    bool await_ready() const noexcept { return false; }

    // The WaitRef operations (promise_base.hpp).
    bool on_cancel(const std::string&) noexcept { return unlink_cancelled(*this); }
    void detach() noexcept { unlink_detached(*this); }

protected:
    /// await_suspend of an operation: performs it at once when `fd` is known ready in
    /// `direction`, else queues it with `perform` and parks the task. False: do not suspend.
    template <class P>
    bool start_operation(std::coroutine_handle<P> h, int fd, IoDirection direction,
                         bool (*perform)(IoOpNode&, IoRegistration&));

    /// What a perform function does with a failed syscall: EINTR retries (true); EAGAIN clears
    /// the readiness bit (false: wait for the next event); anything else is the result.
    enum class Failure { retry, wait, failed };
    static inline Failure classify_failure(IoOpNode& node, IoRegistration& reg,
                                           IoDirection direction) noexcept;
};

/// The driver's state for one fd (Tokio's ScheduledIo, libuv's uv__io_t).
struct IoRegistration {
    int fd = -1;
    std::uint16_t generation = 0;
    std::uint8_t ready = 0;  // readiness bits seen and not yet used up by an EAGAIN
    std::uint8_t handed = 0; // readiness bits some plain wait returned on since they were set
    WaitList waiters[2];     // by IoDirection
    CallbackNode* callbacks[2] = {nullptr, nullptr}; // add_reader / add_writer
    bool callback_queued[2] = {false, false};
    // An internal client (the threadsafe inbox, the signal driver's pipe): called at once from
    // the poll phase when the fd becomes readable.
    void (*on_readable)(void* client) = nullptr;
    void* client = nullptr;
    IoRegistration* next_free = nullptr;
    IoRegistration* next_allocated = nullptr; // every registration the driver made
    dev_t device = 0; // the file's identity when registered (debug mode checks it)
    ino_t inode = 0;

    std::uint64_t token() const noexcept {
        return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(this)) |
               (static_cast<std::uint64_t>(generation) << token_generation_shift);
    }
    static constexpr int token_generation_shift = 48;
};

/// The system_error an operation on `fd` throws: names the call and the fd.
[[noreturn, gnu::cold]] inline void throw_io_error(int error, const char* call, int fd) {
    throw std::system_error(
        error, std::system_category(),
        std::string(call) + " on fd " + std::to_string(fd) +
            (error == EBADF ? " (the fd was closed while the operation was pending)" : ""));
}

/// Is `fd` ready in `direction` right now? One poll(2), for the cases readiness bits cannot
/// answer (a plain wait after an earlier wait was handed the readiness; level-triggered
/// callbacks).
inline bool poll_now(int fd, IoDirection direction) noexcept {
    pollfd p{fd, static_cast<short>(direction == IoDirection::read ? POLLIN : POLLOUT), 0};
    int n;
    do {
        n = ::poll(&p, 1, 0);
    } while (n < 0 && errno == EINTR);
    return n > 0 && p.revents != 0;
}

/// A write(2) to a pipe whose reader is gone raises SIGPIPE, which kills a program by default,
/// and no flag turns that off per call (MSG_NOSIGNAL is for sockets only). So, as CPython and
/// Rust programs do at start, each driver sets SIGPIPE to ignored when it is still at its
/// default disposition; such a write then fails with EPIPE. A handler the program installed is
/// left alone. (Children started by aio must get the default back before exec.)
inline void ignore_default_sigpipe() noexcept {
    struct sigaction current {};
    if (::sigaction(SIGPIPE, nullptr, &current) == 0 && !(current.sa_flags & SA_SIGINFO) &&
        current.sa_handler == SIG_DFL)
        ::signal(SIGPIPE, SIG_IGN);
}

class IoDriver {
public:
    explicit IoDriver(LoopCore& loop) : loop_(loop) { ignore_default_sigpipe(); }
    IoDriver(const IoDriver&) = delete;
    IoDriver& operator=(const IoDriver&) = delete;
    ~IoDriver() {
        shutdown();
        while (allocated_)
            delete std::exchange(allocated_, allocated_->next_allocated);
    }

    /// The fd's registration, registering it with the kernel on first use. Throws
    /// std::system_error for an fd that cannot be watched (EBADF; EPERM for a regular file).
    IoRegistration& registration(int fd) {
        if (AIO_LIKELY(fd >= 0 && static_cast<std::size_t>(fd) < by_fd_.size()))
            if (IoRegistration* reg = by_fd_[static_cast<std::size_t>(fd)]) {
                if (AIO_UNLIKELY(loop_.debug()))
                    return checked(*reg);
                return *reg;
            }
        return add_registration(fd);
    }

    /// The registration of `fd` if it has one.
    IoRegistration* find(int fd) const noexcept {
        return fd >= 0 && static_cast<std::size_t>(fd) < by_fd_.size()
                   ? by_fd_[static_cast<std::size_t>(fd)]
                   : nullptr;
    }

    /// Ends the fd's pending operations and waits with EBADF, drops its callbacks and
    /// deregisters it from the kernel. The fd itself stays open. False if it had no registration.
    bool deregister(int fd) noexcept {
        IoRegistration* reg = find(fd);
        if (!reg)
            return false;
        for (IoDirection direction : {IoDirection::read, IoDirection::write}) {
            WaitList& list = reg->waiters[static_cast<int>(direction)];
            while (!list.empty()) {
                auto& op = static_cast<IoOpNode&>(list.pop_front());
                op.error = EBADF;
                complete(op);
            }
            drop_callback(*reg, direction);
        }
        poller_.remove(fd);
        retire(*reg);
        return true;
    }

    /// The kernel just gave out `fd` for a new file (aio's socket() / accept()): a registration
    /// this driver still has for the number is stale — its fd was closed with ::close() while
    /// no loop ran (Socket::close outside a loop) — and goes (its waiters get EBADF). Without
    /// this the new file would inherit a registration the kernel no longer knows.
    void forget_stale(int fd) noexcept {
        if (AIO_UNLIKELY(find(fd) != nullptr))
            deregister(fd);
    }

    /// An fd handed to aio by the user (a stream over a socket from socketpair()): a
    /// registration of the same number for another file (compared by fstat identity) is stale
    /// and goes, as in forget_stale.
    void forget_if_replaced(int fd) noexcept {
        IoRegistration* reg = find(fd);
        if (AIO_LIKELY(!reg))
            return;
        struct stat st {};
        if (::fstat(fd, &st) != 0 || st.st_dev != reg->device || st.st_ino != reg->inode)
            deregister(fd);
    }

    /// deregister(fd), then ::close(fd). Returns close's result (0, or -1 with errno set).
    int close(int fd) noexcept {
        deregister(fd);
        return ::close(fd);
    }

    /// Loop close: drops every callback and registration without waking anyone (the loop
    /// detached every suspended task before). A completion backend drains here.
    void shutdown() noexcept {
        for (IoRegistration* reg : by_fd_) {
            if (!reg)
                continue;
            for (IoDirection direction : {IoDirection::read, IoDirection::write})
                drop_callback(*reg, direction);
            poller_.remove(reg->fd);
        }
        by_fd_.clear();
    }

    // --- the poll phase ---------------------------------------------------------------------

    /// Polls the kernel (blocking up to `timeout_ms`, -1 for ever) and dispatches what it
    /// reports: operations performed, waiters and callbacks scheduled. Returns the number of
    /// events.
    int poll(int timeout_ms) {
        const int count = poller_.wait(timeout_ms);
        const PollEvent* events = poller_.events();
        for (int i = 0; i < count; ++i) {
            auto* reg = reinterpret_cast<IoRegistration*>(static_cast<std::uintptr_t>(
                events[i].token &
                ((std::uint64_t{1} << IoRegistration::token_generation_shift) - 1)));
            const auto generation = static_cast<std::uint16_t>(
                events[i].token >> IoRegistration::token_generation_shift);
            if (reg->generation != generation || reg->fd < 0)
                continue; // an fd closed meanwhile
            dispatch(*reg, events[i].ready);
        }
        return count;
    }

    // --- internal clients -------------------------------------------------------------------

    /// Registers `fd` for an internal client called from the poll phase when it becomes
    /// readable (the threadsafe inbox, the signal pipe).
    void add_internal_reader(int fd, void (*on_readable)(void*), void* client) {
        IoRegistration& reg = registration(fd);
        reg.on_readable = on_readable;
        reg.client = client;
    }

    // --- level-triggered callbacks (add_reader / add_writer) ------------------------------

    /// Installs `node` (adopting its reference) as the fd's callback for `direction`,
    /// replacing an earlier one. Runs it on the next iteration if the fd is ready now.
    void set_callback(int fd, IoDirection direction, CallbackNode* node) {
        CallbackRef owned(node);
        IoRegistration& reg = registration(fd);
        const int d = static_cast<int>(direction);
        drop_callback(reg, direction);
        reg.callbacks[d] = owned.release_ownership();
        if ((reg.ready & readiness_bit(direction)) && poll_now(fd, direction))
            queue_callback(reg, direction);
    }

    /// Removes the fd's callback for `direction`; false if there was none.
    bool remove_callback(int fd, IoDirection direction) noexcept {
        IoRegistration* reg = find(fd);
        if (!reg || !reg->callbacks[static_cast<int>(direction)])
            return false;
        drop_callback(*reg, direction);
        return true;
    }

    /// Called after a level-triggered callback ran: while it is still installed and the fd
    /// still ready, it runs again on the next iteration.
    void after_callback(int fd, IoDirection direction, CallbackNode* node) {
        IoRegistration* reg = find(fd);
        const int d = static_cast<int>(direction);
        if (!reg || reg->callbacks[d] != node)
            return;
        reg->callback_queued[d] = false;
        if (poll_now(fd, direction))
            queue_callback(*reg, direction);
        else
            reg->ready &= static_cast<std::uint8_t>(~readiness_bit(direction));
    }

    // --- operations ---------------------------------------------------------------------------

    /// Starts `op` on `reg` for the calling task: performs it at once when the fd is known
    /// ready, else queues it. Returns true when the task must suspend (the node is queued).
    /// (The awaitables in io_operations.hpp and io.hpp call this from await_suspend.)
    bool start(IoRegistration& reg, IoDirection direction, IoOpNode& op, PromiseBase& task) {
        op.task = &task;
        op.completed = false;
        op.error = 0;
        if (reg.ready & readiness_bit(direction)) {
            if (op.perform(op, reg)) {
                op.completed = true;
                return false;
            }
        }
        if (task.cancel_pending())
            return false; // await_resume delivers it
        reg.waiters[static_cast<int>(direction)].push_back(op);
        return true;
    }

    /// Starts a plain wait (wait_readable / wait_writable) for the calling task. Returns true
    /// when the task must suspend. Readiness already handed to an earlier wait is checked with
    /// poll(2) first: the caller may have drained the fd itself, and the edge-triggered
    /// registration would not report it again.
    bool start_wait(IoRegistration& reg, IoDirection direction, IoOpNode& op, PromiseBase& task) {
        const std::uint8_t bit = readiness_bit(direction);
        op.task = &task;
        op.completed = false;
        op.error = 0;
        op.perform = direction == IoDirection::read ? &hand_readable : &hand_writable;
        if (reg.ready & bit) {
            if (!(reg.handed & bit) || poll_now(reg.fd, direction)) {
                reg.handed |= bit;
                op.completed = true;
                return false;
            }
            clear_ready(reg, direction);
        }
        if (task.cancel_pending())
            return false; // await_resume delivers it
        reg.waiters[static_cast<int>(direction)].push_back(op);
        return true;
    }

    /// Queues a node no task waits on (IoOpNode::on_complete says when it is done). The caller
    /// has just seen EAGAIN (the readiness bit is clear), so the next event performs it.
    static void queue_owned(IoRegistration& reg, IoDirection direction, IoOpNode& op) noexcept {
        op.task = nullptr;
        op.completed = false;
        op.error = 0;
        reg.waiters[static_cast<int>(direction)].push_back(op);
    }

    /// A stream transfer of `done` bytes out of `asked`: a short one means the kernel buffer ran
    /// dry (or full), so readiness is cleared without another syscall to see EAGAIN (as Tokio)
    /// — not at end of file (0), nor once the peer shut down or the socket failed: those stay
    /// readable and no new edge would say so.
    static void after_transfer(IoRegistration& reg, IoDirection direction, std::size_t done,
                               std::size_t asked) noexcept {
        const std::uint8_t sticky = direction == IoDirection::read
                                        ? readiness::read_closed | readiness::error
                                        : readiness::error;
        if (done > 0 && done < asked && !(reg.ready & sticky))
            clear_ready(reg, direction);
    }

    /// Clears a readiness bit: an operation saw EAGAIN.
    static void clear_ready(IoRegistration& reg, IoDirection direction) noexcept {
        reg.ready &= static_cast<std::uint8_t>(~readiness_bit(direction));
        reg.handed &= static_cast<std::uint8_t>(~readiness_bit(direction));
    }

    /// Registration changes made with the kernel so far (epoll_ctl / kevent changes): tests
    /// check that waits make none.
    std::uint64_t control_calls() const noexcept { return poller_.control_calls(); }

    /// Registrations currently live (for tests and diagnostics).
    std::size_t registered_count() const noexcept {
        std::size_t n = 0;
        for (IoRegistration* reg : by_fd_)
            n += reg != nullptr;
        return n;
    }

private:
    // Debug mode: an fd closed with ::close() while registered, whose number now belongs to
    // another file, would wait for events that never come. Found by comparing the file's
    // identity; reported once, and the fd is registered anew.
    [[gnu::noinline]] IoRegistration& checked(IoRegistration& reg) {
        const int fd = reg.fd;
        struct stat st {};
        if (::fstat(fd, &st) != 0) { // closed with ::close(): fail as an unwatched closed fd does
            const int error = errno;
            deregister(fd);
            throw std::system_error(
                error, std::system_category(),
                "cannot watch fd " + std::to_string(fd) +
                    " (closed with ::close() while registered; close watched fds with "
                    "aio::close_fd())");
        }
        if (st.st_dev == reg.device && st.st_ino == reg.inode)
            return reg;
        loop_.call_exception_handler(
            {"fd " + std::to_string(fd) +
                 " was closed with ::close() while the event loop watched it, and the number now "
                 "belongs to another file: close watched fds with aio::close_fd() (debug mode "
                 "found "
                 "this and registered the new file; without debug mode its waits would never wake)",
             nullptr,
             {}});
        deregister(fd);
        return add_registration(fd);
    }

    IoRegistration& add_registration(int fd) {
        if (fd < 0)
            throw std::system_error(EBADF, std::system_category(),
                                    "cannot watch fd " + std::to_string(fd));
        if (static_cast<std::size_t>(fd) >= by_fd_.size()) {
            // Only an open fd may grow the table to its number: a bogus fd (1'000'000'000) is
            // EBADF, not a gigabyte table.
            if (::fcntl(fd, F_GETFD) == -1)
                throw std::system_error(errno, std::system_category(),
                                        "cannot watch fd " + std::to_string(fd));
            by_fd_.resize(static_cast<std::size_t>(fd) + 1);
        }
        IoRegistration* reg = free_;
        if (reg) {
            free_ = reg->next_free;
            reg->next_free = nullptr;
        } else {
            reg = new IoRegistration();
            reg->next_allocated = allocated_;
            allocated_ = reg;
            if (reinterpret_cast<std::uintptr_t>(reg) >> IoRegistration::token_generation_shift)
                throw std::system_error(ENOMEM, std::system_category(),
                                        "aio: registration address too wide for a token");
        }
        reg->fd = fd;
        struct stat st {};
        if (::fstat(fd, &st) == 0) { // the file's identity, for debug mode's reuse check
            reg->device = st.st_dev;
            reg->inode = st.st_ino;
        }
        // Optimistic: the first operation tries its syscall at once (the kernel reports the
        // real state on the next poll anyway). Marked handed, so a plain wait asks poll(2)
        // rather than trusting a guess.
        reg->ready = readiness::readable | readiness::writable;
        reg->handed = readiness::readable | readiness::writable;
        try {
            poller_.add(fd, reg->token());
        } catch (...) {
            retire_storage(*reg);
            throw;
        }
        by_fd_[static_cast<std::size_t>(fd)] = reg;
        return *reg;
    }

    void retire(IoRegistration& reg) noexcept {
        by_fd_[static_cast<std::size_t>(reg.fd)] = nullptr;
        retire_storage(reg);
    }

    void retire_storage(IoRegistration& reg) noexcept {
        reg.fd = -1;
        ++reg.generation; // events still queued for the old fd no longer match
        reg.ready = reg.handed = 0;
        reg.on_readable = nullptr;
        reg.client = nullptr;
        reg.next_free = free_;
        free_ = &reg;
    }

    static bool hand_readable(IoOpNode&, IoRegistration& reg) noexcept {
        reg.handed |= readiness::readable;
        return true;
    }
    static bool hand_writable(IoOpNode&, IoRegistration& reg) noexcept {
        reg.handed |= readiness::writable;
        return true;
    }

    void dispatch(IoRegistration& reg, std::uint8_t ready) {
        reg.ready |= ready;
        reg.handed &=
            static_cast<std::uint8_t>(~ready); // fresh readiness, not yet handed to a wait
        if (reg.on_readable && (ready & readiness::readable))
            reg.on_readable(reg.client);
        for (IoDirection direction : {IoDirection::read, IoDirection::write}) {
            if (!(ready & readiness_bit(direction)))
                continue;
            perform_queued(reg, direction);
            if (reg.callbacks[static_cast<int>(direction)])
                queue_callback(reg, direction);
        }
    }

    // Performs the direction's queued operations in order until one hits EAGAIN.
    void perform_queued(IoRegistration& reg, IoDirection direction) {
        WaitList& list = reg.waiters[static_cast<int>(direction)];
        while (!list.empty()) {
            auto& op = static_cast<IoOpNode&>(*list.front());
            if (!op.perform(op, reg))
                return;           // EAGAIN: the rest wait for the next event
            if (op.list == &list) // perform may have unlinked it (a stream's lost connection)
                list.remove(op);
            complete(op);
        }
    }

    void queue_callback(IoRegistration& reg, IoDirection direction) {
        const int d = static_cast<int>(direction);
        if (reg.callback_queued[d])
            return;
        reg.callback_queued[d] = true;
        reg.callbacks[d]->add_ref();
        loop_.push_ready({ReadyItem::callback, reg.callbacks[d]});
    }

    static void drop_callback(IoRegistration& reg, IoDirection direction) noexcept {
        const int d = static_cast<int>(direction);
        if (CallbackNode* node = std::exchange(reg.callbacks[d], nullptr)) {
            node->cancelled = true; // a queued run is skipped
            node->release();
        }
        reg.callback_queued[d] = false;
    }

    LoopCore& loop_;
    Poller poller_;
    PodArray<IoRegistration*> by_fd_;
    IoRegistration* allocated_ = nullptr; // all of them, linked through next_allocated
    IoRegistration* free_ = nullptr;      // retired ones, for reuse
};

template <class P>
bool IoAwaiter::start_operation(std::coroutine_handle<P> h, int fd, IoDirection direction,
                                bool (*perform_fn)(IoOpNode&, IoRegistration&)) {
    PromiseBase& task = running_task(h);
    IoDriver& driver = task.loop_->io();
    perform = perform_fn;
    if (!driver.start(driver.registration(fd), direction, *this, task))
        return false;
    task.park(h, WaitRef::to(*this));
    return true;
}

inline IoAwaiter::Failure IoAwaiter::classify_failure(IoOpNode& node, IoRegistration& reg,
                                                      IoDirection direction) noexcept {
    if (errno == EINTR)
        return Failure::retry;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        IoDriver::clear_ready(reg, direction);
        return Failure::wait;
    }
    node.error = errno;
    return Failure::failed;
}

/// A level-triggered fd callback (add_reader / add_writer): runs the user's function, then
/// asks the driver whether to run again next iteration.
template <class F>
class FdCallbackOf final : public CallbackNode {
public:
    template <class G>
    FdCallbackOf(IoDriver& driver, int fd, IoDirection direction, G&& fn)
        : driver_(driver), fd_(fd), direction_(direction), fn_(std::forward<G>(fn)) {}
    void invoke() override {
        try {
            fn_();
        } catch (...) {
            if (!cancelled)
                driver_.after_callback(fd_, direction_, this);
            throw;
        }
        if (!cancelled)
            driver_.after_callback(fd_, direction_, this);
    }

private:
    IoDriver& driver_;
    int fd_;
    IoDirection direction_;
    F fn_;
};

} // namespace aio::detail
