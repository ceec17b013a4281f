// aio::detail — what task frames and awaiters need of their event loop, and nothing they must
// not touch: the ready queue, the timer heap and the clock, the task registry, the thread
// check, the exception handler and the threadsafe inbox. EventLoop (event_loop.hpp) is this
// plus the I/O and signal drivers and the public API; a frame reaches its loop as a LoopCore*
// (PromiseBase::loop_), and users, who only see EventLoop, cannot reach any of it.
#pragma once

#include <aio/config.hpp>
#include <aio/detail/callback.hpp>
#include <aio/detail/current_loop.hpp>
#include <aio/detail/function.hpp>
#include <aio/detail/intrusive_list.hpp>
#include <aio/detail/loop_clock.hpp>
#include <aio/detail/ready_queue.hpp>
#include <aio/detail/task_registry.hpp>
#include <aio/detail/thread.hpp>
#include <aio/detail/threadsafe_inbox.hpp>
#include <aio/detail/timer_heap.hpp>
#include <aio/errors.hpp>
#include <aio/loop_options.hpp>

#include <fmt/core.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

namespace aio::detail {

class PromiseBase;
class IoDriver;

inline std::string describe(const std::exception_ptr& error) {
    if (!error)
        return {};
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

/// Work a loop runs once at the end of the current turn, after the ready batch and before the
/// next poll: streams flush the writes their tasks made during the turn with one syscall (as
/// Redis's beforeSleep and uvloop's per-tick flush).
struct TurnEndNode {
    void (*run)(TurnEndNode&) = nullptr;
    TurnEndNode* next = nullptr;
    bool queued = false;
};

/// Something that holds OS resources on a loop (a stream's socket, a server's listeners): the
/// loop tells it when it closes, so its fds are closed through the I/O driver while the driver
/// still exists, even if the object itself lives on.
struct LoopResource {
    void (*on_loop_close)(LoopResource&) = nullptr;
    LoopResource* prev = nullptr;
    LoopResource* next = nullptr;
};

class LoopCore {
public:
    LoopCore(EventLoop& owner, LoopOptions options)
        : owner_(&owner), debug_(options.debug), clock_(options.virtual_time), inbox_() {}
    LoopCore(const LoopCore&) = delete;
    LoopCore& operator=(const LoopCore&) = delete;

    /// The public face of this loop.
    EventLoop& loop() const noexcept { return *owner_; }

    // --- the ready queue ------------------------------------------------------------------
    /// Queues a suspended task's next step (a wake-up: one trip through the queue).
    AIO_ALWAYS_INLINE void schedule(PromiseBase& task) {
        ready_.push({ReadyItem::task_step, &task});
    }
    void push_ready(ReadyItem item) { ready_.push(item); }

    // --- time -------------------------------------------------------------------------------
    std::int64_t now_ns() const noexcept { return clock_.now_ns(); }
    TimerHeap& timers() noexcept { return timers_; }
    LoopClock& clock() noexcept { return clock_; }
    std::int64_t next_deadline() noexcept {
        return timers_.empty() ? never_ns : timers_.next_deadline();
    }

    // --- end of turn and resources ------------------------------------------------------------
    /// Runs `node` at the end of this turn (once, however often it is asked).
    void at_turn_end(TurnEndNode& node) noexcept {
        if (node.queued)
            return;
        node.queued = true;
        node.next = turn_end_;
        turn_end_ = &node;
    }
    /// Withdraws `node` if queued (its owner is going away).
    void cancel_turn_end(TurnEndNode& node) noexcept {
        if (!node.queued)
            return;
        for (TurnEndNode** link = &turn_end_; *link; link = &(*link)->next)
            if (*link == &node) {
                *link = node.next;
                break;
            }
        node.queued = false;
    }
    void add_resource(LoopResource& resource) noexcept {
        link_front<&LoopResource::prev, &LoopResource::next>(resources_, resource);
    }
    void remove_resource(LoopResource& resource) noexcept {
        unlink<&LoopResource::prev, &LoopResource::next>(resources_, resource);
    }

    // --- state and threads --------------------------------------------------------------------
    bool is_closed() const noexcept { return closed_; }
    bool is_running() const noexcept { return running_; }
    bool debug() const noexcept { return debug_; }
    PromiseBase* current_task() const noexcept { return current_task_; }
    TaskRegistry& tasks() noexcept { return tasks_; }
    const InboxRef& inbox() const noexcept { return inbox_; }
    /// The loop's I/O driver (io_driver.hpp).
    IoDriver& io() const noexcept { return *io_; }

    /// In debug mode, throws aio::RuntimeError when called from a thread other than the one
    /// running this loop. Only atomics are read before the check, so a foreign
    /// thread's call is caught without a data race.
    AIO_ALWAYS_INLINE void check_thread(const char* what) const {
        if (AIO_UNLIKELY(debug_))
            check_thread_slow(what);
    }
    /// check_thread, and aio::RuntimeError when the loop is closed.
    void check_usable(const char* what) const {
        check_thread(what);
        if (AIO_UNLIKELY(closed_))
            throw RuntimeError(
                std::string(what) +
                "(): the event loop is closed; create a new EventLoop (or use aio::run)");
    }
    /// Set while the loop runs; read by stop() and the debug checks from other threads.
    bool running_on_some_thread() const noexcept {
        return thread_.load(std::memory_order_relaxed) != std::thread::id();
    }
    bool running_on_this_thread() const noexcept {
        return thread_.load(std::memory_order_relaxed) == std::this_thread::get_id();
    }

    // --- errors ---------------------------------------------------------------------------
    /// Reports an error that has no awaiter (a failing callback, a lost task exception).
    void call_exception_handler(const ExceptionContext& context) noexcept {
        try {
            if (exception_handler_) {
                exception_handler_(loop(), context);
                return;
            }
        } catch (...) {
            default_exception_handler(ExceptionContext{
                "the exception handler itself threw", std::current_exception(), {}});
        }
        default_exception_handler(context);
    }

    /// Prints `context` to stderr with fmt.
    static void default_exception_handler(const ExceptionContext& context) noexcept {
        try {
            std::string line = "aio: " + context.message;
            if (!context.task_name.empty())
                line += " [task " + context.task_name + "]";
            if (context.exception)
                line += ": " + describe(context.exception);
            fmt::print(stderr, fmt::runtime("{}\n"), line);
        } catch (...) {
        }
    }

protected:
    /// The end of a turn: runs what asked for it during the turn, each once. Taken one at a
    /// time from the live list, so a node withdrawn meanwhile (its owner went away) is never
    /// run; one queued while these run runs in this pass too.
    void run_turn_end() {
        while (TurnEndNode* node = turn_end_) {
            turn_end_ = node->next;
            node->queued = false;
            node->run(*node);
        }
    }
    /// Loop close: every resource closes its fds (through the driver) and lets go of the loop.
    void close_resources() noexcept {
        turn_end_ = nullptr;
        while (LoopResource* resource = resources_) {
            remove_resource(*resource);
            resource->on_loop_close(*resource);
        }
    }

    [[gnu::noinline]] void check_thread_slow(const char* what) const {
        if (running_on_some_thread() && !running_on_this_thread())
            throw RuntimeError(std::string(what) +
                               "() called from a thread other than the loop's; use "
                               "call_soon_threadsafe() or run_coroutine_threadsafe()");
    }

    EventLoop* owner_;
    bool debug_;
    bool running_ = false;
    bool stopping_ = false;
    bool closed_ = false;
    std::atomic<std::thread::id> thread_{};
    ReadyQueue ready_;
    TimerHeap timers_;
    LoopClock clock_;
    TaskRegistry tasks_;
    PromiseBase* current_task_ = nullptr;
    InboxRef inbox_;
    IoDriver* io_ = nullptr; // the EventLoop's, set by its constructor
    TurnEndNode* turn_end_ = nullptr;
    LoopResource* resources_ = nullptr;
    std::function<void(EventLoop&, const ExceptionContext&)> exception_handler_;
};

} // namespace aio::detail
