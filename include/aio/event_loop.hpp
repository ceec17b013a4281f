// aio::EventLoop — one per thread. The public API, and the iteration as a short
// list of named phases, as libuv's uv_run:
//
//   run_once():  poll_io()          wait for I/O (not at all when work is ready), dispatch it
//                fire_due_timers()  move due timers to the ready queue (the test clock jumps here)
//                run_ready_batch()  run exactly what was ready when the batch began
//                run_turn_end()     what asked to run at the end of the turn (stream flushes)
//
// Everything else lives in its own file under detail/: the ready queue (ready_queue.hpp), the
// timer heap (timer_heap.hpp), the clock (loop_clock.hpp), the I/O driver and its poller
// (io_driver.hpp, poller.hpp, epoll_poller.hpp, kqueue_poller.hpp), the signal driver
// (signal_driver.hpp), the task registry (task_registry.hpp), the thread's current loop
// (current_loop.hpp) and what task frames may use of their loop (loop_core.hpp).
// Everything here runs on the loop's thread except call_soon_threadsafe() and stop().
#pragma once

#include <aio/config.hpp>
#include <aio/detail/callback.hpp>
#include <aio/detail/current_loop.hpp>
#include <aio/detail/deadline.hpp>
#include <aio/detail/function.hpp>
#include <aio/detail/io_driver.hpp>
#include <aio/detail/loop_core.hpp>
#include <aio/detail/promise_base.hpp>
#include <aio/detail/ready_queue.hpp>
#include <aio/detail/signal_driver.hpp>
#include <aio/detail/thread.hpp>
#include <aio/errors.hpp>
#include <aio/executor_base.hpp>
#include <aio/handle.hpp>
#include <aio/loop_options.hpp>

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace aio {

template <class T>
class Task;
template <class T>
class ScheduledTask;
class SleepAwaitable;

class Socket;
class SocketAddress;
struct AddrInfo;
struct AddrInfoHints;
namespace detail {
struct LoopAccess;
template <class T>
class Promise;
class SockAccept;
namespace io {
class ConnectOperation;
class SendAllOperation;
} // namespace io
} // namespace detail

/// The event loop (asyncio.EventLoop). Not copyable, not movable. Destroying or closing a loop
/// with pending tasks reports them and frees their frames.
class EventLoop : private detail::LoopCore {
public:
    EventLoop() : EventLoop(LoopOptions{}) {}
    explicit EventLoop(LoopOptions options)
        : LoopCore(*this, options), io_driver_(*this), signal_driver_(*this) {
        io_ = &io_driver_;
        io_driver_.add_internal_reader(inbox_->wake_fd(), &on_inbox_readable, this);
    }
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;
    ~EventLoop() {
        running_ = false;
        close();
    }

    // --- running ---------------------------------------------------------------------------

    /// Runs `task` (scheduling it if it is not yet a task) until it is done and returns its
    /// result or rethrows its exception. Makes this loop the thread's current loop meanwhile.
    /// Throws aio::RuntimeError if the loop is closed or already running, or if stop() ends
    /// the run before the task is done.
    template <class T>
    T run_until_complete(Task<T> task) {
        RunningScope scope(*this);
        detail::PromiseBase& frame =
            detail::frame_of(detail::TaskAccess::frame(task), "run_until_complete()");
        if (!frame.is_task() && !frame.done()) {
            if (frame.started())
                throw RuntimeError(
                    "run_until_complete(): this coroutine is already running inside another task");
            create_task(task);
        } else if (frame.is_task() && !frame.done() && frame.owner_loop() != core()) {
            throw RuntimeError(
                "run_until_complete(): the task is attached to a different event loop");
        }
        while (!frame.done()) {
            run_once();
            if (stopping_)
                break;
        }
        if (!frame.done())
            throw RuntimeError("the event loop stopped before the task completed");
        return std::move(task).result();
    }
    /// `run_until_complete(aio::sleep(d))`.
    template <class Sleep>
    requires std::is_same_v<std::remove_cvref_t<Sleep>, SleepAwaitable>
    void run_until_complete(Sleep&& sleep) {
        run_until_complete(static_cast<Sleep&&>(sleep).as_task());
    }

    /// Runs until stop() is called.
    void run_forever() {
        RunningScope scope(*this);
        for (;;) {
            run_once();
            if (stopping_)
                break;
        }
        stopping_ = false;
    }

    /// Asks run_forever() to return after the current iteration. Callable from any thread.
    void stop() {
        if (running_on_this_thread() || !running_on_some_thread())
            stopping_ = true;
        else
            call_soon_threadsafe([this] { stopping_ = true; });
    }

    bool is_running() const noexcept { return running_; }
    bool is_closed() const noexcept { return closed_; }

    /// Cancels nothing: discards queued callbacks and timers, reports and frees pending tasks,
    /// shuts the default executor down and releases the poller. Idempotent.
    /// Throws aio::RuntimeError while the loop is running.
    inline void close();

    /// The loop's notion of now, read once per iteration (on first use).
    /// In debug mode, throws aio::RuntimeError when called from another thread while it runs.
    Clock::time_point time() const {
        check_thread("time");
        return Clock::time_point(
            std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(now_ns())));
    }

    // --- callbacks -------------------------------------------------------------------------

    /// Runs `fn()` on a later iteration, in FIFO order with other ready work.
    template <class F>
    Handle call_soon(F&& fn) {
        check_usable("call_soon");
        detail::CallbackNode* node = detail::make_callback(std::forward<F>(fn));
        node->add_ref(); // one for the queue, one for the Handle
        ready_.push({detail::ReadyItem::callback, node});
        return Handle(detail::CallbackRef(node));
    }

    /// Runs `fn()` once `delay` has passed (a negative delay is due at once; a delay too long for
    /// the clock, such as Clock::duration::max(), never fires).
    template <class F>
    Handle call_later(Clock::duration delay, F&& fn) {
        check_usable("call_later"); // before reading the clock: it may be a foreign thread
        return schedule_timer(detail::deadline_after(now_ns(), delay), std::forward<F>(fn));
    }

    /// Runs `fn()` at `when`; equal deadlines fire in the order they were scheduled.
    template <class F>
    Handle call_at(Clock::time_point when, F&& fn) {
        check_usable("call_at");
        return schedule_timer(detail::deadline_at(when), std::forward<F>(fn));
    }

    /// Schedules `fn()` from any thread and wakes the loop. Throws aio::RuntimeError when the
    /// loop is closed.
    template <class F>
    void call_soon_threadsafe(F&& fn) {
        if (!inbox_->post(detail::make_callback(std::forward<F>(fn))))
            throw RuntimeError("call_soon_threadsafe() on a closed event loop; the callback was "
                               "dropped — keep the loop open until other threads are done with it");
    }

    /// Schedules `task` to start on a later iteration (never inside this call) and returns it.
    /// The loop keeps the task alive until it finishes. Throws aio::RuntimeError if the task
    /// already started, aio::InvalidStateError for an empty Task.
    template <class T>
    ScheduledTask<T> create_task(Task<T> task, std::string name = {}) {
        check_usable("create_task");
        detail::PromiseBase& frame =
            detail::frame_of(detail::TaskAccess::frame(task), "create_task()");
        if (frame.is_task() || frame.started())
            throw RuntimeError(
                "create_task(): this Task has already started (scheduled or awaited before); "
                "call the coroutine function again for a fresh one");
        frame.is_task_ = true;
        frame.task_ = &frame;
        frame.loop_ = core();
        if (!name.empty())
            frame.set_name(std::move(name));
        frame.resume_point_ = frame.self_;
        frame.add_ref(); // the loop owns the task until it finishes
        tasks_.add_pending(frame);
        ready_.push({detail::ReadyItem::task_first_step, &frame});
        return task;
    }
    /// `create_task(aio::sleep(d))`: a sleep as a task of its own.
    template <class Sleep>
    requires std::is_same_v<std::remove_cvref_t<Sleep>, SleepAwaitable>
    auto create_task(Sleep&& sleep, std::string name = {}) {
        return create_task(static_cast<Sleep&&>(sleep).as_task(), std::move(name));
    }

    // --- file descriptors --------------------------------------------------------------------

    /// Calls `fn()` on the loop whenever `fd` is readable (level-triggered, once per iteration
    /// while it stays readable), replacing any earlier reader. Waits on the same fd
    /// (aio::wait_readable, streams) are not affected. Throws std::system_error when the fd
    /// cannot be watched (closed: EBADF; regular file: EPERM).
    template <class F>
    void add_reader(int fd, F&& fn) {
        add_fd_callback<F>(fd, detail::IoDirection::read, std::forward<F>(fn), "add_reader");
    }
    /// Stops watching `fd` for reading; false if no reader was registered.
    bool remove_reader(int fd) {
        check_thread("remove_reader");
        return io_driver_.remove_callback(fd, detail::IoDirection::read);
    }
    /// Calls `fn()` whenever `fd` is writable (as add_reader).
    template <class F>
    void add_writer(int fd, F&& fn) {
        add_fd_callback<F>(fd, detail::IoDirection::write, std::forward<F>(fn), "add_writer");
    }
    /// Stops watching `fd` for writing; false if no writer was registered.
    bool remove_writer(int fd) {
        check_thread("remove_writer");
        return io_driver_.remove_callback(fd, detail::IoDirection::write);
    }

    // --- sockets (asyncio's loop.sock_*; defined in socket.hpp, which <aio/aio.hpp> includes) ---

    /// `co_await loop.sock_connect(socket, address)`: connects; throws std::system_error
    /// (ECONNREFUSED, ETIMEDOUT...) naming the address. A cancelled connect leaves no
    /// registration; the socket's state is then undefined (close it).
    inline detail::io::ConnectOperation sock_connect(Socket& socket, const SocketAddress& address);
    /// `co_await loop.sock_recv(socket, buffer)`: up to buffer.size() bytes, 0 at EOF; throws
    /// std::system_error (ECONNRESET...). Cancel-safe: bytes read are returned even if the task
    /// was cancelled meanwhile.
    inline auto sock_recv(Socket& socket, std::span<std::byte> buffer);
    /// `co_await loop.sock_sendall(socket, data)`: sends every byte (of its own copy), waiting
    /// while the socket buffer is full; throws std::system_error (EPIPE, ECONNRESET...). Not
    /// cancel-safe as to how much was sent (as asyncio's).
    inline detail::io::SendAllOperation sock_sendall(Socket& socket, std::string_view data);
    /// `auto [conn, peer] = co_await loop.sock_accept(listener)`: a non-blocking, close-on-exec
    /// connection and the peer's address; throws std::system_error (EMFILE...). Cancel-safe: a
    /// cancelled accept takes nothing from the backlog.
    inline detail::SockAccept sock_accept(Socket& listener);

    // --- signals (defined in signals.hpp, which <aio/aio.hpp> includes) ----------------------

    /// Runs `fn()` on this loop each time signal `signo` arrives (asyncio's
    /// loop.add_signal_handler): as an ordinary callback, never inside the OS signal handler,
    /// replacing this loop's earlier handler for `signo`. Other loops (threads) may handle the
    /// same signal; each is told. Throws aio::ValueError for a signal that cannot be caught
    /// (SIGKILL, SIGSTOP, out of range). A SIGINT handler takes over from aio::run's (no cancel
    /// of main, no "second Ctrl-C kills").
    template <class F>
    void add_signal_handler(int signo, F&& fn);
    /// Removes this loop's handler for `signo`; true if there was one. The OS disposition from
    /// before comes back when no loop watches the signal any more.
    inline bool remove_signal_handler(int signo);

    // --- name resolution (defined in dns.hpp, which <aio/aio.hpp> includes) -------------------

    /// `co_await loop.getaddrinfo(host, port[, hints])` (port: a number or a service name):
    /// getaddrinfo(3) on the default executor, as asyncio. Throws std::system_error with gai's
    /// message (category aio::gai_category(): "Name or service not known"...). Cancelling the
    /// awaiter does not stop the lookup already running; its result is dropped.
    template <class Port>
    Task<std::vector<AddrInfo>> getaddrinfo(std::string host, const Port& port,
                                            AddrInfoHints hints);
    template <class Port>
    Task<std::vector<AddrInfo>> getaddrinfo(std::string host, const Port& port);

    // --- executors ---------------------------------------------------------------------------

    /// Runs `fn(args...)` on `executor` (nullptr: the default ThreadPool), starting now; await
    /// the returned Task for the result or exception. Cancelling the awaiter does not stop work
    /// already running on a thread; its result is then discarded. (Defined in to_thread.hpp,
    /// which <aio/aio.hpp> includes.)
    template <class F, class... Args>
    auto run_in_executor(Executor* executor, F&& fn, Args&&... args);

    /// Replaces the default executor used by run_in_executor(nullptr, ...) and to_thread.
    void set_default_executor(std::shared_ptr<Executor> executor) {
        default_executor_.own(std::move(executor));
    }

    /// Shuts the default executor down, waiting for its work (aio::run does this at exit).
    void shutdown_default_executor() { default_executor_.shutdown(); }

    // --- errors and debug ----------------------------------------------------------------------

    /// Installs `handler(EventLoop&, const ExceptionContext&)`; an empty function restores the
    /// default, which prints to stderr.
    template <class F>
    void set_exception_handler(F&& handler) {
        exception_handler_ = std::forward<F>(handler);
    }

    /// Reports an error that has no awaiter (a failing callback, a lost task exception).
    void call_exception_handler(const ExceptionContext& context) noexcept {
        LoopCore::call_exception_handler(context);
    }

    /// Prints `context` to stderr with fmt.
    static void default_exception_handler(const ExceptionContext& context) noexcept {
        LoopCore::default_exception_handler(context);
    }

    void set_debug(bool enabled) noexcept { debug_ = enabled; }
    bool get_debug() const noexcept { return debug_; }
    /// Debug mode reports callbacks and task steps that run longer than this (100 ms).
    Clock::duration slow_callback_duration = std::chrono::milliseconds(100);

private:
    friend struct detail::LoopAccess;
    template <class T>
    friend class Task;

    detail::LoopCore* core() noexcept { return this; }

    class RunningScope {
    public:
        explicit RunningScope(EventLoop& loop)
            : loop_(loop), previous_current_(detail::tls_current_loop) {
            loop.check_usable("run");
            if (loop.running_)
                throw RuntimeError("this event loop is already running");
            if (detail::tls_running_loop)
                throw RuntimeError("cannot run an event loop while another loop is running in this "
                                   "thread; await the work from the running loop instead");
            loop.running_ = true;
            loop.thread_.store(std::this_thread::get_id(), std::memory_order_relaxed);
            detail::tls_running_loop = &loop;
            detail::tls_running_core = &loop;
            detail::tls_current_loop = &loop;
        }
        ~RunningScope() {
            loop_.running_ = false;
            loop_.thread_.store(std::thread::id(), std::memory_order_relaxed);
            loop_.stopping_ = false;
            detail::tls_running_loop = nullptr;
            detail::tls_running_core = nullptr;
            detail::tls_current_loop = previous_current_;
        }
        RunningScope(const RunningScope&) = delete;
        RunningScope& operator=(const RunningScope&) = delete;

    private:
        EventLoop& loop_;
        EventLoop* previous_current_;
    };

    // --- the iteration ---------------------------------------------------------------------

    /// One iteration: the three phases.
    void run_once() {
        const int events = poll_io();
        fire_due_timers(events);
        run_ready_batch();
        if (turn_end_)
            run_turn_end();
    }

    // While work is ready, the poll syscall is skipped until `poll_interval` steps have run
    // since the last one (as Tokio's event_interval): an epoll_wait(0) costs more than a task
    // step, and I/O still gets its turn at least that often. Posts from other threads (and
    // signals' wake-ups through the inbox) are seen at once through the inbox's flag.
    static constexpr std::size_t poll_interval = 61;

    /// Phase 1: poll for I/O — blocking until the next timer when nothing is ready — and hand
    /// what arrived to the I/O driver. Returns the number of events.
    int poll_io() {
        int events = 0;
        const bool busy = !ready_.empty() || stopping_;
        if (busy && steps_since_poll_ < poll_interval) {
            if (inbox_->signalled())
                drain_inbox();
        } else {
            events = io_driver_.poll(busy ? 0 : clock_.poll_timeout_ms(next_deadline()));
            steps_since_poll_ = 0;
        }
        clock_.after_poll();
        return events;
    }

    /// Phase 2: due timers join the ready queue. On the test clock, an iteration that found
    /// nothing to do first jumps time to the next deadline.
    void fire_due_timers(int events) {
        if (timers_.empty())
            return;
        clock_.advance_if_idle(ready_.empty() && events == 0 && !stopping_, next_deadline());
        timers_.pop_due(now_ns(), [](detail::TimerHeap::Fire fire, void* arg) { fire(arg); });
    }

    /// Phase 3: runs only what is ready now; what these schedule runs on the next iteration.
    void run_ready_batch() {
        const std::size_t n = ready_.begin_batch();
        steps_since_poll_ += n;
        if (AIO_LIKELY(!debug_)) {
            for (std::size_t i = 0; i < n; ++i) {
                const detail::ReadyItem item = ready_.batch_item(i);
                if (item.kind() == detail::ReadyItem::task_step) { // the hot case, inlined
                    auto* task = item.target<detail::PromiseBase>();
                    current_task_ = task;
                    task->resume_point_.resume(); // may finish and free the task
                } else {
                    current_task_ = nullptr;
                    run_item(item);
                }
            }
            current_task_ = nullptr;
        } else {
            for (std::size_t i = 0; i < n; ++i)
                run_item_timed(ready_.batch_item(i));
        }
    }

    void run_item(detail::ReadyItem item) {
        switch (item.kind()) {
        case detail::ReadyItem::task_step:
            run_task_step(item.target<detail::PromiseBase>());
            break;
        case detail::ReadyItem::task_first_step:
            run_task_first_step(item.target<detail::PromiseBase>());
            break;
        case detail::ReadyItem::callback:
            run_callback(item.target<detail::CallbackNode>());
            break;
        }
    }

    void run_item_timed(detail::ReadyItem item) {
        const bool is_task = item.kind() != detail::ReadyItem::callback;
        const std::string name =
            is_task ? item.target<detail::PromiseBase>()->name() : std::string();
        const std::int64_t start = detail::LoopClock::real_now_ns();
        run_item(item);
        const std::int64_t took_ns = detail::LoopClock::real_now_ns() - start;
        if (took_ns > slow_callback_duration.count())
            call_exception_handler({fmt::format("executing {} took {:.3f} seconds",
                                                is_task ? "a task step" : "a callback",
                                                static_cast<double>(took_ns) / 1e9),
                                    nullptr, name});
    }

    static void run_callback(detail::CallbackNode* node) {
        if (!node->cancelled) {
            try {
                node->invoke();
            } catch (...) {
                if (detail::LoopCore* loop = detail::tls_running_core)
                    loop->call_exception_handler(
                        {"exception in callback", std::current_exception(), {}});
            }
        }
        node->release();
    }

    // A task's first step: a task cancelled before it started finishes without running.
    void run_task_first_step(detail::PromiseBase* task) {
        task->state_ = detail::FrameState::running;
        if (task->must_cancel_ && !task->runs_when_cancelled_) {
            task->clear_pending_cancel();
            try {
                throw CancelledError(task->cancel_message());
            } catch (...) {
                task->record_exception();
            }
            current_task_ = task;
            task->complete(); // may free the task
            current_task_ = nullptr;
            return;
        }
        run_task_step(task);
    }

    void run_task_step(detail::PromiseBase* task) {
        current_task_ = task;
        task->resume_point_.resume(); // may finish and free the task: don't touch it after
        current_task_ = nullptr;
    }

    static void on_inbox_readable(void* self) { static_cast<EventLoop*>(self)->drain_inbox(); }

    void drain_inbox() {
        for (detail::CallbackNode* node = inbox_->take(); node;)
            ready_.push({detail::ReadyItem::callback, std::exchange(node, node->next)});
    }

    // --- helpers ---------------------------------------------------------------------------

    template <class F>
    Handle schedule_timer(std::int64_t deadline_ns, F&& fn) {
        detail::CallbackNode* node = detail::make_callback(std::forward<F>(fn));
        node->add_ref(); // one for the heap, one for the Handle
        node->timer_heap = &timers_;
        node->timer_id = timers_.schedule(deadline_ns, &fire_callback_timer, node);
        return Handle(detail::CallbackRef(node));
    }

    static void fire_callback_timer(void* arg) {
        auto* node = static_cast<detail::CallbackNode*>(arg);
        node->timer_heap = nullptr;
        detail::tls_running_core->push_ready(
            {detail::ReadyItem::callback, node}); // the heap's reference moves on
    }

    template <class F>
    void add_fd_callback(int fd, detail::IoDirection direction, F&& fn, const char* what) {
        check_usable(what);
        io_driver_.set_callback(fd, direction,
                                new detail::FdCallbackOf<std::decay_t<F>>(io_driver_, fd, direction,
                                                                          std::forward<F>(fn)));
    }

    /// Runs until no task is pending, reporting tasks that end with an exception other than
    /// cancellation (aio::run's shutdown).
    void run_while_tasks_pending() {
        RunningScope scope(*this);
        tasks_.report_failures = true;
        try {
            while (tasks_.has_pending() && !stopping_)
                run_once();
        } catch (...) {
            tasks_.report_failures = false;
            throw;
        }
        tasks_.report_failures = false;
    }

    inline void close_tasks() noexcept;

    std::size_t steps_since_poll_ = 0;
    detail::DefaultExecutor default_executor_;
    detail::IoDriver io_driver_;
    detail::SignalDriver signal_driver_;
    // add_signal_handler's watch per signal number (0: none).
    std::uint64_t signal_handlers_[detail::SignalTable::max_signal + 1] = {};
};

namespace detail {

/// The narrow door from aio's own headers into a loop's internals (run.hpp, threadsafe.hpp,
/// to_thread.hpp, io.hpp); users have no reason to use it.
struct LoopAccess {
    static LoopCore& core(EventLoop& loop) noexcept { return loop; }
    static IoDriver& io(EventLoop& loop) noexcept { return loop.io_driver_; }
    static SignalDriver& signals(EventLoop& loop) noexcept { return loop.signal_driver_; }
    /// Whether the user gave `loop` a handler for `signo` (add_signal_handler).
    static bool has_signal_handler(const EventLoop& loop, int signo) noexcept {
        return loop.signal_handlers_[signo] != 0;
    }
    static void run_while_tasks_pending(EventLoop& loop) { loop.run_while_tasks_pending(); }
    static void check_usable(EventLoop& loop, const char* what) { loop.check_usable(what); }
};

} // namespace detail

// --- EventLoop members ----------------------------------------------------------------------

// Pending tasks are reported and marked finished, finished ones that nobody retrieved are
// reported, and every frame is cut loose from the loop; frames go last, since their
// destructors may drop handles to other tasks, and errors they find (a guard releasing what it
// no longer holds) are reported here, never thrown.
inline void EventLoop::close_tasks() noexcept {
    detail::PromiseBase* pending = tasks_.take_pending();
    for (detail::PromiseBase* t = pending; t; t = t->next_task_) {
        if (t->wait_)
            std::exchange(t->wait_, {}).detach();
        if (t->quiet_at_close_)
            continue;
        call_exception_handler(
            {"Task was destroyed but it is pending: the loop closed before it finished "
             "(await it, or let aio::run cancel it)",
             nullptr, t->name()});
    }
    for (detail::PromiseBase* t = pending; t; t = t->next_task_) {
        t->state_ = detail::FrameState::finished; // never resumed again
        try {
            throw CancelledError("the event loop was closed before the task finished");
        } catch (...) {
            t->record_exception();
        }
        t->exception_retrieved_ = true;
    }
    for (detail::PromiseBase* t = tasks_.take_finished(); t;) {
        detail::PromiseBase* next = t->next_task_;
        if (t->has_exception() && !t->exception_retrieved_ && !t->is_cancelled())
            call_exception_handler(
                {"Task exception was never retrieved (await the task or call result())",
                 t->take_exception(), t->name()});
        t->prev_task_ = t->next_task_ = nullptr;
        t->loop_ = nullptr;
        t = next;
    }
    detail::LoopCore* const outer_closing = std::exchange(detail::tls_closing_core, core());
    while (pending) {
        detail::PromiseBase* t = std::exchange(pending, pending->next_task_);
        t->prev_task_ = t->next_task_ = nullptr;
        t->loop_ = nullptr;
        t->release();
    }
    detail::tls_closing_core = outer_closing;
}

inline void EventLoop::close() {
    check_thread("close");
    if (running_)
        throw RuntimeError(
            "cannot close a running event loop; call stop() and let it return first");
    if (closed_)
        return;
    closed_ = true;
    inbox_->close();
    ready_.clear([](detail::ReadyItem item) {
        if (item.kind() == detail::ReadyItem::callback)
            item.target<detail::CallbackNode>()->release();
    });
    timers_.clear([](detail::TimerHeap::Fire fire, void* arg) {
        if (fire == &fire_callback_timer) {
            auto* node = static_cast<detail::CallbackNode*>(arg);
            node->timer_heap = nullptr;
            node->release();
        }
    });
    // Tasks first (their waits are detached before anything they wait on goes), then the
    // drivers (a completion backend drains its operations there, before frames are freed).
    close_tasks();
    close_resources();
    signal_driver_.shutdown();
    io_driver_.shutdown();
    shutdown_default_executor();
    if (detail::tls_current_loop == this)
        detail::tls_current_loop = nullptr;
}

} // namespace aio
