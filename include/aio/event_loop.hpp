// aio::EventLoop — one per thread: a ready queue of callbacks and task steps, a timer heap
// and an OS poller (SPEC §2). Everything here runs on the loop's thread except
// call_soon_threadsafe() and stop().
#pragma once

#include <atomic>
#include <aio/detail/chrono.hpp>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <aio/detail/function.hpp>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <fcntl.h>

#include <fmt/core.h>

#include <aio/config.hpp>
#include <aio/detail/callback.hpp>
#include <aio/detail/deadline.hpp>
#include <aio/detail/poller.hpp>
#include <aio/detail/promise_base.hpp>
#include <aio/detail/ready_queue.hpp>
#include <aio/detail/threadsafe_inbox.hpp>
#include <aio/detail/timer_heap.hpp>
#include <aio/errors.hpp>
#include <aio/executor.hpp>
#include <aio/handle.hpp>

namespace aio {

/// The loop's clock. With `virtual_time` it is still steady_clock's time_point type, but the
/// loop's time() only moves when the loop is idle.
using Clock = std::chrono::steady_clock;

template <class T>
class Task;
template <class T>
class ScheduledTask;
class SleepAwaitable;

struct LoopOptions {
    /// Debug mode (SPEC §9): slow callbacks reported, foreign-thread calls rejected.
    bool debug = false;
    /// Test clock: when nothing is ready and no I/O is pending, time jumps to the next timer.
    bool virtual_time = false;
};

/// What the exception handler receives; `exception` and `task_name` may be empty.
struct ExceptionContext {
    std::string message;
    std::exception_ptr exception;
    std::string task_name;
};

class EventLoop;

namespace detail {
inline thread_local EventLoop* tls_running_loop = nullptr;
inline thread_local EventLoop* tls_current_loop = nullptr;
// The loop whose close() is destroying task frames on this thread: where errors found by the
// destructors it runs are reported.
inline thread_local EventLoop* tls_closing_loop = nullptr;

/// How error messages name a loop: "event loop 0x55d0c1a2b2c0", the address fmt gives.
inline std::string loop_name(const EventLoop* loop) {
    return loop ? fmt::format("event loop {}", static_cast<const void*>(loop)) : std::string("no event loop");
}

/// Reports `context` to the exception handler of the loop running on this thread, else of the
/// one closing on it, else to stderr: for errors found where nothing can throw.
inline void report_to_current_loop(ExceptionContext context) noexcept;

/// Reports an exception caught where it cannot propagate (a destructor, teardown) as asyncio's
/// "Exception ignored in ...". Call from a catch block.
inline void report_ignored_exception(const char* where) noexcept;

inline std::string describe(const std::exception_ptr& error) {
    if (!error) return {};
    try {
        std::rethrow_exception(error);
    } catch (const CancelledError& e) {
        return e.message().empty() ? "CancelledError" : "CancelledError: " + e.message();
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return "unknown exception";
    }
}
} // namespace detail

/// The event loop (asyncio.EventLoop). Not copyable, not movable. Destroying or closing a loop
/// with pending tasks reports them and frees their frames.
class EventLoop {
public:
    EventLoop() : EventLoop(LoopOptions{}) {}
    explicit EventLoop(LoopOptions options)
        : debug_(options.debug), virtual_time_(options.virtual_time),
          inbox_(std::make_shared<detail::ThreadsafeInbox>()) {
        now_ns_ = real_now_ns();
        now_fresh_ = virtual_time_;
        poller_.set_interest(inbox_->wake_fd(), {}, {true, false});
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
    T run_until_complete(Task<T> task);
    /// `run_until_complete(aio::sleep(d))`. (Defined in sleep.hpp.)
    inline void run_until_complete(SleepAwaitable&& sleep);

    /// Runs until stop() is called.
    void run_forever() {
        RunningScope scope(*this);
        for (;;) {
            run_once();
            if (stopping_) break;
        }
        stopping_ = false;
    }

    /// Asks run_forever() to return after the current iteration. Callable from any thread.
    void stop() {
        if (thread_.load(std::memory_order_relaxed) == std::this_thread::get_id() || !running_on_some_thread())
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
        return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(now_ns())));
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
    ScheduledTask<T> create_task(Task<T> task, std::string name = {});
    /// `create_task(aio::sleep(d))`: a sleep as a task of its own. (Defined in sleep.hpp.)
    inline ScheduledTask<void> create_task(SleepAwaitable&& sleep, std::string name = {});

    // --- file descriptors --------------------------------------------------------------------

    /// Calls `fn()` whenever `fd` is readable (level-triggered), replacing any earlier reader.
    /// Throws std::system_error when the fd cannot be watched (closed: EBADF; regular file: EPERM).
    template <class F>
    void add_reader(int fd, F&& fn) {
        add_fd_callback(fd, true, detail::make_callback(std::forward<F>(fn)));
    }
    /// Stops watching `fd` for reading; false if no reader was registered.
    bool remove_reader(int fd) {
        check_thread("remove_reader");
        return remove_fd_callback(fd, true);
    }
    /// Calls `fn()` whenever `fd` is writable.
    template <class F>
    void add_writer(int fd, F&& fn) {
        add_fd_callback(fd, false, detail::make_callback(std::forward<F>(fn)));
    }
    bool remove_writer(int fd) {
        check_thread("remove_writer");
        return remove_fd_callback(fd, false);
    }

    // --- executors ---------------------------------------------------------------------------

    /// Runs `fn(args...)` on `executor` (nullptr: the default ThreadPool), starting now; await
    /// the returned Task for the result or exception. Cancelling the awaiter does not stop work
    /// already running on a thread; its result is then discarded. (Defined in to_thread.hpp.)
    template <class F, class... Args>
    auto run_in_executor(Executor* executor, F&& fn, Args&&... args);

    /// Replaces the default executor used by run_in_executor(nullptr, ...) and to_thread.
    void set_default_executor(std::shared_ptr<Executor> executor) { default_executor_ = std::move(executor); }

    /// Shuts the default executor down, waiting for its work (aio::run does this at exit).
    void shutdown_default_executor() {
        if (auto executor = std::exchange(default_executor_, nullptr)) executor->shutdown(true);
    }

    // --- errors and debug ----------------------------------------------------------------------

    /// Installs `handler(EventLoop&, const ExceptionContext&)`; an empty function restores the
    /// default, which prints to stderr.
    template <class F>
    void set_exception_handler(F&& handler) {
        exception_handler_ = std::forward<F>(handler);
    }

    /// Reports an error that has no awaiter (a failing callback, a lost task exception).
    void call_exception_handler(const ExceptionContext& context) noexcept {
        try {
            if (exception_handler_) {
                exception_handler_(*this, context);
                return;
            }
        } catch (...) {
            default_exception_handler(ExceptionContext{"the exception handler itself threw",
                                                       std::current_exception(), {}});
        }
        default_exception_handler(context);
    }

    /// Prints `context` to stderr with fmt.
    static void default_exception_handler(const ExceptionContext& context) noexcept {
        try {
            std::string line = "aio: " + context.message;
            if (!context.task_name.empty()) line += " [task " + context.task_name + "]";
            if (context.exception) line += ": " + detail::describe(context.exception);
            fmt::print(stderr, fmt::runtime("{}\n"), line);
        } catch (...) {
        }
    }

    void set_debug(bool enabled) noexcept { debug_ = enabled; }
    bool get_debug() const noexcept { return debug_; }
    /// Debug mode reports callbacks and task steps that run longer than this (100 ms).
    Clock::duration slow_callback_duration = std::chrono::milliseconds(100);

    // --- internal: used by aio's awaitables and tasks ------------------------------------------

    std::int64_t now_ns() const noexcept {
        if (!now_fresh_) {
            now_ns_ = real_now_ns();
            now_fresh_ = true; // until the next iteration; the test clock is always fresh
        }
        return now_ns_;
    }
    detail::TimerHeap& timers() noexcept { return timers_; }
    AIO_ALWAYS_INLINE void schedule(detail::PromiseBase& task) { ready_.push({detail::ReadyItem::task_step, &task}); }
    detail::PromiseBase* current_task() const noexcept { return current_task_; }
    const std::shared_ptr<detail::ThreadsafeInbox>& inbox() const noexcept { return inbox_; }
    inline Executor& default_executor();
    inline void on_task_finished(detail::PromiseBase& task) noexcept;
    /// A finished task's frame is being destroyed.
    void forget_finished_task(detail::PromiseBase& task) noexcept { unlink_task(finished_tasks_, task); }
    void push_ready(detail::ReadyItem item) { ready_.push(item); }
    bool has_pending_tasks() const noexcept { return tasks_ != nullptr; }
    template <class F>
    void for_each_pending_task(F&& fn) const {
        for (detail::PromiseBase* t = tasks_; t; t = t->next_task_) fn(*t);
    }
    /// Runs until no task is pending, reporting tasks that end with an exception other than
    /// cancellation (aio::run's shutdown).
    void run_while_tasks_pending() {
        RunningScope scope(*this);
        report_failures_ = true;
        try {
            while (tasks_ && !stopping_) run_once();
        } catch (...) {
            report_failures_ = false;
            throw;
        }
        report_failures_ = false;
    }
    /// In debug mode, throws aio::RuntimeError when called from a thread other than the one
    /// running this loop (SPEC §6). Only atomics are read before the check, so a foreign
    /// thread's call is caught without a data race.
    AIO_ALWAYS_INLINE void check_thread(const char* what) const {
        if (AIO_UNLIKELY(debug_)) check_thread_slow(what);
    }
    /// Executor calls whose results have not reached the loop yet: while there are any, the
    /// test clock does not jump (time only auto-advances when nothing but timers can make
    /// progress, as Tokio's paused clock).
    void executor_call_started() noexcept { ++executor_calls_in_flight_; }
    void executor_call_finished() noexcept { --executor_calls_in_flight_; }
    /// Cancels the task on the next SIGINT (aio::run's main task); nullptr to stop.
    void set_sigint_target(detail::PromiseBase* task) noexcept { sigint_target_ = task; }

    /// One iteration: poll (without blocking if work is ready), queue I/O callbacks and due
    /// timers, then run exactly the work that was ready at that point.
    inline void run_once();

    static void run_callback(void* arg) {
        auto* node = static_cast<detail::CallbackNode*>(arg);
        if (!node->cancelled) {
            try {
                node->invoke();
            } catch (...) {
                if (EventLoop* loop = detail::tls_running_loop)
                    loop->call_exception_handler({"exception in callback", std::current_exception(), {}});
            }
        }
        node->release();
    }

private:
    struct FdEntry {
        detail::CallbackNode* reader = nullptr;
        detail::CallbackNode* writer = nullptr;
    };

    class RunningScope {
    public:
        explicit RunningScope(EventLoop& loop) : loop_(loop), previous_current_(detail::tls_current_loop) {
            loop.check_usable("run");
            if (loop.running_) throw RuntimeError("this event loop is already running");
            if (detail::tls_running_loop)
                throw RuntimeError("cannot run an event loop while another loop is running in this "
                                   "thread; await the work from the running loop instead");
            loop.running_ = true;
            loop.thread_.store(std::this_thread::get_id(), std::memory_order_relaxed);
            detail::tls_running_loop = &loop;
            detail::tls_current_loop = &loop;
        }
        ~RunningScope() {
            loop_.running_ = false;
            loop_.thread_.store(std::thread::id(), std::memory_order_relaxed);
            loop_.stopping_ = false;
            detail::tls_running_loop = nullptr;
            detail::tls_current_loop = previous_current_;
        }
        RunningScope(const RunningScope&) = delete;
        RunningScope& operator=(const RunningScope&) = delete;

    private:
        EventLoop& loop_;
        EventLoop* previous_current_;
    };

    // Set while run_forever / run_until_complete runs; read by stop() from other threads.
    bool running_on_some_thread() const noexcept {
        return thread_.load(std::memory_order_relaxed) != std::thread::id();
    }

    static inline void unlink_task(detail::PromiseBase*& list, detail::PromiseBase& task) noexcept;

    static std::int64_t real_now_ns() noexcept {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
    }

    void check_usable(const char* what) const {
        check_thread(what);
        if (AIO_UNLIKELY(closed_))
            throw RuntimeError(std::string(what) +
                               "(): the event loop is closed; create a new EventLoop (or use aio::run)");
    }

    [[gnu::noinline]] void check_thread_slow(const char* what) const {
        if (running_on_some_thread() && std::this_thread::get_id() != thread_.load(std::memory_order_relaxed))
            throw RuntimeError(std::string(what) +
                               "() called from a thread other than the loop's; use "
                               "call_soon_threadsafe() or run_coroutine_threadsafe()");
    }

    // How long the poll may block when no work is ready: until the next timer (never for a
    // timer at never_ns), at once on the test clock when it may jump, or until I/O.
    int poll_timeout_ms() {
        if (timers_.empty()) return -1;
        const std::int64_t next = timers_.next_deadline();
        if (next == detail::never_ns) return -1;
        if (virtual_time_) return next <= now_ns_ || test_clock_may_jump() ? 0 : -1;
        const std::int64_t wait_ns = next - real_now_ns();
        if (wait_ns <= 0) return 0;
        return static_cast<int>(std::min<std::int64_t>((wait_ns + 999'999) / 1'000'000, 24 * 3600 * 1000));
    }

    bool test_clock_may_jump() const noexcept { return executor_calls_in_flight_ == 0; }

    // The test clock: when the poll found nothing and nothing is ready, time jumps to the next
    // deadline (never to never_ns).
    void advance_test_clock_if_idle() {
        if (!ready_.empty() || event_count_ != 0 || stopping_ || !test_clock_may_jump()) return;
        const std::int64_t next = timers_.next_deadline();
        if (next != detail::never_ns) now_ns_ = std::max(now_ns_, next);
    }

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
        detail::tls_running_loop->ready_.push({detail::ReadyItem::callback, node}); // the heap's reference moves on
    }

    // A task's first step: a task cancelled before it started finishes without running.
    static void run_task_first_step(void* arg) {
        auto* task = static_cast<detail::PromiseBase*>(arg);
        EventLoop* loop = task->loop_;
        task->state_ = detail::FrameState::running;
        if (task->must_cancel_ && !task->runs_when_cancelled_) {
            task->clear_pending_cancel();
            try {
                throw CancelledError(task->cancel_message());
            } catch (...) {
                task->record_exception();
            }
            loop->current_task_ = task;
            task->complete(); // may free the task
            loop->current_task_ = nullptr;
            return;
        }
        run_task_step(arg);
    }

    static void run_task_step(void* arg) {
        auto* task = static_cast<detail::PromiseBase*>(arg);
        EventLoop* loop = task->loop_;
        loop->current_task_ = task;
        task->resume_point_.resume(); // may finish and free the task: don't touch it after
        loop->current_task_ = nullptr;
    }

    void add_fd_callback(int fd, bool reading, detail::CallbackNode* node) {
        detail::CallbackRef owned(node);
        check_usable(reading ? "add_reader" : "add_writer");
        if (fd < 0) throw std::system_error(EBADF, std::system_category(), "cannot watch fd " + std::to_string(fd));
        if (static_cast<std::size_t>(fd) >= fds_.size()) {
            // Only an open fd may grow the table to its number: a bogus fd (1'000'000'000) is
            // EBADF, not a gigabyte table.
            if (::fcntl(fd, F_GETFD) == -1)
                throw std::system_error(errno, std::system_category(), "cannot watch fd " + std::to_string(fd));
            fds_.resize(static_cast<std::size_t>(fd) + 1);
        }
        FdEntry& entry = fds_[static_cast<std::size_t>(fd)];
        const detail::Interest before{entry.reader != nullptr, entry.writer != nullptr};
        detail::Interest after = before;
        (reading ? after.read : after.write) = true;
        poller_.set_interest(fd, before, after);
        detail::CallbackNode*& slot = reading ? entry.reader : entry.writer;
        if (slot) {
            slot->cancelled = true;
            slot->release();
        }
        slot = owned.release_ownership();
    }

    bool remove_fd_callback(int fd, bool reading) {
        if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return false;
        FdEntry& entry = fds_[static_cast<std::size_t>(fd)];
        detail::CallbackNode*& slot = reading ? entry.reader : entry.writer;
        if (!slot) return false;
        const detail::Interest before{entry.reader != nullptr, entry.writer != nullptr};
        detail::Interest after = before;
        (reading ? after.read : after.write) = false;
        try {
            poller_.set_interest(fd, before, after);
        } catch (const std::system_error&) {
            poller_.forget(fd); // the fd was closed under us; nothing left to watch
        }
        slot->cancelled = true;
        slot->release();
        slot = nullptr;
        return true;
    }

    void drain_inbox() {
        for (detail::CallbackNode* node = inbox_->take(); node;)
            ready_.push({detail::ReadyItem::callback, std::exchange(node, node->next)});
        if (AIO_UNLIKELY(sigint_target_ != nullptr) && sigint_flag().exchange(false)) {
            sigint_target_->cancel("interrupted by SIGINT");
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
        const std::string name = is_task ? item.target<detail::PromiseBase>()->name() : std::string();
        const auto start = Clock::now();
        run_item(item);
        const auto took = Clock::now() - start;
        if (took > slow_callback_duration)
            call_exception_handler({std::string("executing ") + (is_task ? "a task step" : "a callback") + " took " +
                                        std::to_string(std::chrono::duration<double>(took).count()) + " seconds",
                                    nullptr, name});
    }

public:
    /// Set by aio::run's SIGINT handler (async-signal-safe).
    static std::atomic<bool>& sigint_flag() noexcept {
        static std::atomic<bool> flag{false};
        return flag;
    }

private:
    bool debug_;
    bool virtual_time_;
    bool running_ = false;
    bool stopping_ = false;
    bool closed_ = false;
    bool report_failures_ = false;
    std::atomic<std::thread::id> thread_{};
    mutable std::int64_t now_ns_ = 0;
    mutable bool now_fresh_ = false;
    std::size_t steps_since_poll_ = 0;
    std::size_t executor_calls_in_flight_ = 0;
    std::uint64_t task_counter_ = 0;
    detail::ReadyQueue ready_;
    detail::TimerHeap timers_;
    detail::Poller poller_;
    int event_count_ = 0; // of the last poll
    std::vector<FdEntry> fds_;
    std::shared_ptr<detail::ThreadsafeInbox> inbox_;
    detail::PromiseBase* tasks_ = nullptr;          // pending tasks, newest first
    detail::PromiseBase* finished_tasks_ = nullptr; // finished tasks whose frames are still alive
    detail::PromiseBase* current_task_ = nullptr;
    detail::PromiseBase* sigint_target_ = nullptr;
    std::shared_ptr<Executor> default_executor_;
    std::function<void(EventLoop&, const ExceptionContext&)> exception_handler_;

    template <class T>
    friend class Task;
    friend class detail::PromiseBase;
};

// --- EventLoop members ----------------------------------------------------------------------

inline void EventLoop::run_once() {
    // While work is ready, the poll syscall is skipped until `poll_interval` steps have run
    // since the last one (as Tokio's event_interval): an epoll_wait(0) costs more than a task
    // step, and I/O still gets its turn at least that often. Posts from other threads (and
    // SIGINT) are seen at once through the inbox's flag, without a syscall.
    constexpr std::size_t poll_interval = 61;
    const bool busy = !ready_.empty() || stopping_;
    event_count_ = 0;
    if (busy && steps_since_poll_ < poll_interval) {
        if (inbox_->signalled()) drain_inbox();
    } else {
        event_count_ = poller_.wait(busy ? 0 : poll_timeout_ms());
        steps_since_poll_ = 0;
        const int inbox_fd = inbox_->wake_fd();
        for (int e = 0; e < event_count_; ++e) {
            const detail::PollEvent& ev = poller_.events()[e];
            if (ev.fd == inbox_fd) {
                drain_inbox();
                continue;
            }
            if (static_cast<std::size_t>(ev.fd) >= fds_.size()) continue;
            const FdEntry& entry = fds_[static_cast<std::size_t>(ev.fd)];
            if (ev.readable && entry.reader) {
                entry.reader->add_ref();
                ready_.push({detail::ReadyItem::callback, entry.reader});
            }
            if (ev.writable && entry.writer) {
                entry.writer->add_ref();
                ready_.push({detail::ReadyItem::callback, entry.writer});
            }
        }
    }
    if (!virtual_time_) now_fresh_ = false;

    if (!timers_.empty()) {
        if (virtual_time_) advance_test_clock_if_idle();
        timers_.pop_due(now_ns(), [](detail::TimerHeap::Fire fire, void* arg) { fire(arg); });
    }

    // Only what is ready now: callbacks scheduled by these run on the next iteration.
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
        for (std::size_t i = 0; i < n; ++i) run_item_timed(ready_.batch_item(i));
    }
}

inline Executor& EventLoop::default_executor() {
    if (!default_executor_) default_executor_ = std::make_shared<ThreadPool>();
    return *default_executor_;
}

inline void EventLoop::unlink_task(detail::PromiseBase*& list, detail::PromiseBase& task) noexcept {
    if (task.prev_task_) task.prev_task_->next_task_ = task.next_task_;
    else
        list = task.next_task_;
    if (task.next_task_) task.next_task_->prev_task_ = task.prev_task_;
    task.prev_task_ = task.next_task_ = nullptr;
}

inline void EventLoop::on_task_finished(detail::PromiseBase& task) noexcept {
    unlink_task(tasks_, task);
    // Finished frames that handles keep alive stay listed, so close() can cut them loose
    // from this loop before it goes away.
    task.next_task_ = finished_tasks_;
    if (finished_tasks_) finished_tasks_->prev_task_ = &task;
    finished_tasks_ = &task;
    if (sigint_target_ == &task) sigint_target_ = nullptr;
    if (AIO_UNLIKELY(report_failures_) && task.has_exception() && !task.is_cancelled() && !task.exception_retrieved_)
        call_exception_handler({"unhandled exception during aio::run() shutdown", task.take_exception(), task.name()});
    task.release(); // the loop's reference; may free the frame
}

inline void EventLoop::close() {
    check_thread("close");
    if (running_) throw RuntimeError("cannot close a running event loop; call stop() and let it return first");
    if (closed_) return;
    closed_ = true;
    inbox_->close();

    // Pending tasks: disarm whatever they wait on, report them, and mark them finished.
    for (detail::PromiseBase* t = tasks_; t; t = t->next_task_) {
        if (t->wait_) std::exchange(t->wait_, {}).detach();
        call_exception_handler({"Task was destroyed but it is pending: the loop closed before it finished "
                                "(await it, or let aio::run cancel it)",
                                nullptr, t->name()});
    }
    for (detail::PromiseBase* t = tasks_; t; t = t->next_task_) {
        t->state_ = detail::FrameState::finished; // never resumed again
        try {
            throw CancelledError("the event loop was closed before the task finished");
        } catch (...) {
            t->record_exception();
        }
        t->exception_retrieved_ = true;
    }
    detail::PromiseBase* pending = std::exchange(tasks_, nullptr);

    ready_.clear([](detail::ReadyItem item) {
        if (item.kind() == detail::ReadyItem::callback) item.target<detail::CallbackNode>()->release();
    });
    timers_.clear([](detail::TimerHeap::Fire fire, void* arg) {
        if (fire == &fire_callback_timer) {
            auto* node = static_cast<detail::CallbackNode*>(arg);
            node->timer_heap = nullptr;
            node->release();
        }
    });
    for (std::size_t fd = 0; fd < fds_.size(); ++fd) {
        for (detail::CallbackNode* node : {fds_[fd].reader, fds_[fd].writer}) {
            if (!node) continue;
            node->cancelled = true;
            node->release();
        }
        if (fds_[fd].reader || fds_[fd].writer) poller_.forget(static_cast<int>(fd));
    }
    fds_.clear();

    // Finished tasks that handles keep alive: report what nobody retrieved, then cut them loose.
    for (detail::PromiseBase* t = std::exchange(finished_tasks_, nullptr); t;) {
        detail::PromiseBase* next = t->next_task_;
        if (t->has_exception() && !t->exception_retrieved_ && !t->is_cancelled())
            call_exception_handler({"Task exception was never retrieved (await the task or call result())",
                                    t->take_exception(), t->name()});
        t->prev_task_ = t->next_task_ = nullptr;
        t->loop_ = nullptr;
        t = next;
    }

    // Frames go last: their destructors may drop handles to other tasks, and errors they find
    // (a guard releasing what it no longer holds) are reported here, never thrown.
    EventLoop* const outer_closing = std::exchange(detail::tls_closing_loop, this);
    while (pending) {
        detail::PromiseBase* t = std::exchange(pending, pending->next_task_);
        t->prev_task_ = t->next_task_ = nullptr;
        t->loop_ = nullptr;
        t->release();
    }
    detail::tls_closing_loop = outer_closing;
    shutdown_default_executor();
    if (detail::tls_current_loop == this) detail::tls_current_loop = nullptr;
}

// --- PromiseBase members that need the loop ---------------------------------------------------

namespace detail {

inline void report_to_current_loop(ExceptionContext context) noexcept {
    try {
        EventLoop* loop = tls_running_loop ? tls_running_loop : tls_closing_loop;
        if (loop && loop->current_task() && context.task_name.empty()) context.task_name = loop->current_task()->name();
        if (loop)
            loop->call_exception_handler(context);
        else
            EventLoop::default_exception_handler(context);
    } catch (...) {
    }
}

inline void report_ignored_exception(const char* where) noexcept {
    try {
        report_to_current_loop({std::string("Exception ignored in ") + where, std::current_exception(), {}});
    } catch (...) {
    }
}

inline bool PromiseBase::cancel(std::string message) {
    if (!is_task_) {
        if (state_ == FrameState::finished) return false;
        if (state_ == FrameState::running)
            throw InvalidStateError("cannot cancel a coroutine that is being awaited inline; cancel the "
                                    "task that awaits it, or start it with aio::create_task()");
        // Never started: it finishes as cancelled without running.
        extras().cancel_message = std::move(message);
        try {
            throw CancelledError(cancel_message());
        } catch (...) {
            record_exception();
        }
        state_ = FrameState::finished;
        wake_waiters();
        return true;
    }
    if (loop_) loop_->check_thread("Task::cancel");
    if (state_ == FrameState::finished) return false;
    // A task awaiting another task passes the cancellation on to it. Down a chain of tasks each
    // awaiting the next, that is a loop here, not a recursion per link: cancelling the head of
    // a 100,000-task chain costs no C stack.
    for (PromiseBase* task = this;;) {
        ++task->cancel_requests_;
        // The first message wins while a cancellation is still undelivered (asyncio 3.13).
        if (!task->cancel_pending()) task->extras().cancel_message = message;
        if (!task->wait_) {
            task->must_cancel_ |= cancel_requested;
            return true;
        }
        if (PromiseBase* awaited = task->wait_.awaited_task(); awaited && !awaited->done()) {
            task = awaited; // its wait stays armed: it wakes when the awaited task has finished
            continue;
        }
        if (task->wait_.on_cancel(task->cancel_message())) return true; // the wait delivers the outcome
        task->wait_ = {};
        task->loop_->schedule(*task);
        task->must_cancel_ |= wait_disarmed; // even if uncancel() follows: that wait is gone (asyncio)
        return true;
    }
}

inline std::coroutine_handle<> PromiseBase::complete() noexcept {
    state_ = FrameState::finished;
    wake_waiters();
    schedule_done_callbacks();
    if (is_task_) {
        loop_->on_task_finished(*this); // may free this frame
        return std::noop_coroutine();
    }
    task_ = nullptr; // a lazy frame may outlive the task it ran in
    if (inline_start_) return std::noop_coroutine(); // back into the awaiter's await_suspend
    if (resume_point_) return resume_point_; // the awaiter of this lazy coroutine
    return std::noop_coroutine();
}

inline void PromiseBase::add_done_callback(DoneCallbackNode* node) {
    if (state_ != FrameState::finished) {
        FrameExtras* extras = extras_;
        if (!extras) {
            try {
                extras = &this->extras();
            } catch (...) {
                node->release();
                throw;
            }
        }
        node->next = extras->done_callbacks;
        extras->done_callbacks = node;
        return;
    }
    EventLoop* loop = owner_loop();
    if (!loop) loop = tls_running_loop; // a finished lazy coroutine: the caller's loop runs it
    if (!loop || loop->is_closed()) {
        node->release();
        throw RuntimeError("add_done_callback() on a finished task whose event loop is gone");
    }
    node->bind(*this);
    loop->push_ready({ReadyItem::callback, node});
}

inline void PromiseBase::schedule_done_callbacks() noexcept {
    if (AIO_LIKELY(!extras_) || !extras_->done_callbacks) return;
    // The list is newest first; reverse it so callbacks run in the order they were added.
    CallbackNode* oldest_first = nullptr;
    for (CallbackNode* node = std::exchange(extras_->done_callbacks, nullptr); node;) {
        CallbackNode* next = node->next;
        node->next = oldest_first;
        oldest_first = node;
        node = next;
    }
    EventLoop* loop = owner_loop();
    for (CallbackNode* node = oldest_first; node;) {
        auto* done = static_cast<DoneCallbackNode*>(std::exchange(node, node->next));
        done->bind(*this);
        loop->push_ready({ReadyItem::callback, done});
    }
}

inline PromiseBase::~PromiseBase() {
    if (is_task_ && loop_) { // a task's loop_ is cleared when the loop closes, so this loop is alive
        if (state_ == FrameState::finished) loop_->forget_finished_task(*this);
        if (AIO_UNLIKELY(exception_ && !exception_retrieved_ && !cancelled_))
            loop_->call_exception_handler({"Task exception was never retrieved (await the task or call result())",
                                           exception_, name()});
    }
    if (extras_) {
        for (CallbackNode* node = extras_->done_callbacks; node;) std::exchange(node, node->next)->release();
        delete extras_;
    }
}

} // namespace detail
} // namespace aio

#include <aio/task.hpp>
#include <aio/to_thread.hpp>
