// aio::detail — the state every aio coroutine frame carries, whether it runs lazily inside
// another coroutine or as a task the loop owns (create_task). The typed promise in task.hpp
// adds only the result storage.
//
// A frame is reference counted (single-threaded): every Task handle holds one reference and a
// scheduled task holds one more for the loop until it finishes, so dropping every handle
// never stops or leaks a running task.
//
// How an aio awaitable suspends a task (sleep.hpp is the shortest example; the public
// aio::CancellableAwaiter in awaiter.hpp packages the same steps):
//   await_suspend(h):  PromiseBase& task = running_task(h);   // the task, not the lazy child
//                      if (task.cancel_pending()) return false; // deliver it in await_resume
//                      register somewhere that will wake the task later;
//                      task.park(h, WaitRef::to(*this));        // what the loop resumes, and
//                      return true;                             // how cancel()/close() reach us
//   wake-up:           task.wake();                             (exactly once)
//   await_resume():    task.throw_if_cancelled(); then produce the result.
//   on_cancel(msg):    disarm (the data must not be consumed) and return false, or pass the
//                      cancellation on and return true if the wait will still wake the task.
//   detach():          disarm without waking (the loop is closing).
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>
#include <string>

#include <aio/config.hpp>
#include <aio/detail/callback.hpp>
#include <aio/detail/loop_core.hpp>
#include <aio/errors.hpp>

namespace aio {
template <class T>
class Task;
class TaskRef;
} // namespace aio

namespace aio::detail {

class PromiseBase;

/// What a suspended task is waiting on, so that cancellation and loop teardown can reach it.
/// An awaiter registers itself with `task.park(h, WaitRef::to(*this))` and provides:
///   bool on_cancel(const std::string& message);
///       The task was cancelled while waiting here. Return true if the wait stays armed and
///       will wake the task itself (it passed the cancellation on, e.g. to an awaited task);
///       return false after disarming, and the caller wakes the task to receive CancelledError.
///   void detach() noexcept;
///       Disarm without waking anything: the loop is being closed.
/// Type-erased by two function pointers rather than a virtual base, so awaiters carry no
/// vtable pointer to set and reset on every await.
class WaitRef {
public:
    WaitRef() noexcept = default;
    template <class Awaiter>
    static WaitRef to(Awaiter& awaiter) noexcept {
        static constexpr Ops ops{
            [](void* self, const std::string& message) { return static_cast<Awaiter*>(self)->on_cancel(message); },
            [](void* self) noexcept { static_cast<Awaiter*>(self)->detach(); }, awaited_task_op<Awaiter>()};
        return WaitRef(&awaiter, &ops);
    }
    explicit operator bool() const noexcept { return self_ != nullptr; }
    bool on_cancel(const std::string& message) const { return ops_->on_cancel(self_, message); }
    void detach() const noexcept { ops_->detach(self_); }
    /// The task this wait is for, when it is a wait for one task to finish (co_await task):
    /// cancel() then cancels that task instead, and the wait stays armed.
    PromiseBase* awaited_task() const noexcept { return ops_->awaited_task ? ops_->awaited_task(self_) : nullptr; }

private:
    struct Ops {
        bool (*on_cancel)(void*, const std::string&);
        void (*detach)(void*) noexcept;
        PromiseBase* (*awaited_task)(void*) noexcept;
    };
    // An awaiter that waits for a task provides `PromiseBase* awaited_task() noexcept`.
    template <class Awaiter>
    static constexpr auto awaited_task_op() noexcept {
        PromiseBase* (*op)(void*) noexcept = nullptr;
        if constexpr (requires(Awaiter& a) { a.awaited_task(); })
            op = [](void* self) noexcept { return static_cast<Awaiter*>(self)->awaited_task(); };
        return op;
    }
    WaitRef(void* self, const Ops* ops) noexcept : self_(self), ops_(ops) {}
    void* self_ = nullptr;
    const Ops* ops_ = nullptr;
};

/// A coroutine waiting for another frame to finish; an intrusive list node that lives in the
/// waiting side's awaiter, so waiting never allocates.
struct Waiter {
    void (*on_done)(Waiter*) = nullptr;
    Waiter* prev = nullptr;
    Waiter* next = nullptr;
    PromiseBase* target = nullptr; // the frame waited on, while linked

    bool linked() const noexcept { return target != nullptr; }
    inline void unlink() noexcept;
};

/// A done callback; `bind` hands it the finished task when it is scheduled.
class DoneCallbackNode : public CallbackNode {
public:
    inline void bind(PromiseBase& finished) noexcept;

protected:
    inline ~DoneCallbackNode() override;
    PromiseBase* finished_ = nullptr;
};

enum class FrameState : std::uint8_t { created, running, finished };

/// State most frames never need, allocated on first use so that a lazy coroutine's frame
/// stays small and cheap to build and tear down.
struct FrameExtras {
    std::string name;
    std::string cancel_message;
    CallbackNode* done_callbacks = nullptr; // linked through CallbackNode::next, newest first
};

class PromiseBase {
public:
    PromiseBase() = default;
    PromiseBase(const PromiseBase&) = delete;
    PromiseBase& operator=(const PromiseBase&) = delete;

    void add_ref() noexcept { ++refs_; }
    void release() noexcept {
        if (--refs_ == 0) self_.destroy();
    }

    bool done() const noexcept { return state_ == FrameState::finished; }
    bool is_cancelled() const noexcept { return cancelled_; }
    bool is_task() const noexcept { return is_task_; }
    bool started() const noexcept { return state_ != FrameState::created; }

    /// The loop this frame runs on: its own for a task, its task's for a lazy coroutine that
    /// has started; nullptr before it starts.
    LoopCore* owner_loop() const noexcept { return task_ ? task_->loop_ : loop_; }

    // --- task (root frame) state -------------------------------------------------------------

    inline bool cancel(std::string message);
    int cancelling() const noexcept { return task_state().cancel_requests_; }
    int uncancel() noexcept {
        PromiseBase& t = task_state();
        if (t.cancel_requests_ > 0 && --t.cancel_requests_ == 0) t.must_cancel_ &= ~cancel_requested;
        return t.cancel_requests_;
    }

    /// At a suspension point: deliver a pending cancellation.
    AIO_ALWAYS_INLINE void throw_if_cancelled() {
        if (AIO_UNLIKELY(must_cancel_)) {
            must_cancel_ = 0;
            throw CancelledError(cancel_message());
        }
    }
    bool cancel_pending() const noexcept { return must_cancel_ != 0; }

    /// The awaiter protocol's two steps on the task's side (see suspension.hpp): park the task
    /// at `h` on `wait`, and later wake it, exactly once, by one trip through the ready queue.
    AIO_ALWAYS_INLINE void park(std::coroutine_handle<> h, WaitRef wait) noexcept {
        resume_point_ = h;
        wait_ = wait;
    }
    AIO_ALWAYS_INLINE void wake() {
        wait_ = {};
        loop_->schedule(*this);
    }
    void clear_pending_cancel() noexcept { must_cancel_ = 0; }
    const std::string& cancel_message() const noexcept {
        static const std::string none;
        return extras_ ? extras_->cancel_message : none;
    }

    inline std::string name() const;
    void set_name(std::string name) { extras().name = std::move(name); }

    /// The exception the frame finished with (marks it retrieved); nullptr when it returned.
    std::exception_ptr take_exception() noexcept {
        exception_retrieved_ = true;
        return exception_;
    }
    bool has_exception() const noexcept { return exception_ != nullptr; }
    /// The exception, without marking it retrieved (for formatting and diagnostics).
    const std::exception_ptr& peek_exception() const noexcept { return exception_; }

    inline void add_done_callback(DoneCallbackNode* node);
    inline void add_waiter(Waiter& waiter) noexcept;

    /// Called by the final awaiter (and for a task cancelled before it started): publishes
    /// the outcome and returns the coroutine to resume next.
    inline std::coroutine_handle<> complete() noexcept;

    /// Called from unhandled_exception().
    void record_exception() noexcept {
        exception_ = std::current_exception();
        try {
            throw;
        } catch (const CancelledError&) {
            cancelled_ = true;
        } catch (...) {
        }
    }

    // The fields below are the frame's wiring; the loop and the awaiters use them directly.
    // Order matters: a task step touches only the first 48 bytes (one cache line with the
    // frame's two resume/destroy pointers), so hundreds of tasks stay within L1.
    PromiseBase* task_ = nullptr; // the task this frame runs in (itself for a task)
    LoopCore* loop_ = nullptr;    // task only
    // A task: its innermost suspended coroutine, what the loop resumes. A lazy coroutine: its
    // awaiter, resumed when it finishes. (One field for both keeps frames a cache line
    // shorter; a frame is never both.)
    std::coroutine_handle<> resume_point_;
    std::coroutine_handle<> self_;
    std::uint32_t refs_ = 0;
    FrameState state_ = FrameState::created;
    bool is_task_ = false;
    bool inline_start_ = false; // the awaiter is still inside await_suspend (see TaskAwaiter)
    // A cancellation to deliver at the next suspension point (bits):
    static constexpr std::uint8_t cancel_requested = 1; // by cancel(); uncancel() may withdraw it
    static constexpr std::uint8_t wait_disarmed = 2;    // the wait it was in is gone: final
    std::uint8_t must_cancel_ = 0;

    // Colder: completion, cancellation and task bookkeeping.
    bool cancelled_ = false;
    bool exception_retrieved_ = false;
    // Cancelled before its first step, the task still starts, to receive the CancelledError
    // at its first await: for combinators that must cancel what they already started.
    bool runs_when_cancelled_ = false;
    // A library task whose owner stopped it (a closed server's accept loop): not reported as
    // "destroyed but pending" when the loop closes before its cancellation ran.
    bool quiet_at_close_ = false;
    std::int32_t cancel_requests_ = 0;
    WaitRef wait_; // task only: what it is suspended on, if cancellable
    std::uint64_t id_ = 0;
    PromiseBase* prev_task_ = nullptr; // the loop's list of pending tasks
    PromiseBase* next_task_ = nullptr;

protected:
    inline ~PromiseBase();

private:
    friend struct Waiter;
    PromiseBase& task_state() noexcept { return is_task_ || !task_ ? *this : *task_; }
    const PromiseBase& task_state() const noexcept { return is_task_ || !task_ ? *this : *task_; }
    inline void wake_waiters() noexcept;
    inline void schedule_done_callbacks() noexcept;

    std::exception_ptr exception_;
    FrameExtras& extras() {
        if (!extras_) extras_ = new FrameExtras();
        return *extras_;
    }

    Waiter* waiters_ = nullptr;
    FrameExtras* extras_ = nullptr;
};

[[noreturn, gnu::noinline, gnu::cold]] inline void throw_not_in_task() {
    throw RuntimeError("this aio awaitable was awaited outside a task; run the coroutine with "
                       "aio::run(), loop.run_until_complete() or aio::create_task()");
}

/// How aio's own headers reach the frame behind a task handle (TaskRef, Task<T>), which users
/// have no reason to touch. Templates, so that this header needs neither handle's definition.
struct TaskAccess {
    template <class Handle>
    static PromiseBase* frame(const Handle& task) noexcept {
        return task.p_;
    }
    template <class Handle>
    static auto& promise(const Handle& task) noexcept {
        return task.promise();
    }
    template <class Ref = TaskRef>
    static Ref ref(PromiseBase* frame) noexcept {
        return Ref(frame); // shares the frame (adds a reference)
    }
    template <class T>
    static Task<T> task(PromiseBase* frame) noexcept {
        return Task<T>(frame);
    }
    /// A handle of type `Handle` (TaskRef or Task<T>) to `frame`.
    template <class Handle>
    static Handle as(PromiseBase* frame) noexcept {
        return Handle(frame);
    }
};

/// The frame behind a Task handle; aio::InvalidStateError for an empty one.
inline PromiseBase& frame_of(PromiseBase* p, const char* what) {
    if (AIO_UNLIKELY(!p))
        throw InvalidStateError(std::string(what) +
                                " on an empty aio::Task (default-constructed or moved from); use the Task "
                                "that calling a coroutine returns");
    return *p;
}

/// The task a coroutine is running in, from the handle an awaiter's await_suspend receives.
template <class P>
AIO_ALWAYS_INLINE PromiseBase& running_task(std::coroutine_handle<P> h) {
    static_assert(std::is_base_of_v<PromiseBase, P>,
                  "aio awaitables can only be awaited from an aio::Task coroutine");
    PromiseBase* task = h.promise().task_;
    if (AIO_UNLIKELY(!task)) throw_not_in_task();
    return *task;
}

inline void Waiter::unlink() noexcept {
    if (!target) return;
    if (prev) prev->next = next;
    else
        target->waiters_ = next;
    if (next) next->prev = prev;
    prev = next = nullptr;
    target = nullptr;
}

inline void PromiseBase::add_waiter(Waiter& waiter) noexcept {
    waiter.target = this;
    waiter.prev = nullptr;
    waiter.next = waiters_;
    if (waiters_) waiters_->prev = &waiter;
    waiters_ = &waiter;
}

inline void PromiseBase::wake_waiters() noexcept {
    // Waiters were pushed at the head; wake them oldest first.
    Waiter* tail = waiters_;
    while (tail && tail->next) tail = tail->next;
    while (tail) {
        Waiter* prev = tail->prev;
        tail->prev = tail->next = nullptr;
        tail->target = nullptr;
        tail->on_done(tail);
        tail = prev;
    }
    waiters_ = nullptr;
}

inline std::string PromiseBase::name() const {
    if (extras_ && !extras_->name.empty()) return extras_->name;
    if (is_task_) return "Task-" + std::to_string(id_);
    return "(not a task)";
}

inline DoneCallbackNode::~DoneCallbackNode() {
    if (finished_) finished_->release();
}

inline void DoneCallbackNode::bind(PromiseBase& finished) noexcept {
    finished.add_ref();
    finished_ = &finished;
}

// --- members that need the loop ----------------------------------------------------------------

/// Reports `context` to the exception handler of the loop running on this thread, else of the
/// one closing on it, else to stderr: for errors found where nothing can throw.
inline void report_to_current_loop(ExceptionContext context) noexcept {
    try {
        LoopCore* loop = tls_running_core ? tls_running_core : tls_closing_core;
        if (loop && loop->current_task() && context.task_name.empty()) context.task_name = loop->current_task()->name();
        if (loop)
            loop->call_exception_handler(context);
        else
            LoopCore::default_exception_handler(context);
    } catch (...) {
    }
}

/// Reports an exception caught where it cannot propagate (a destructor, teardown) as asyncio's
/// "Exception ignored in ...". Call from a catch block.
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
        task->wake();
        task->must_cancel_ |= wait_disarmed; // even if uncancel() follows: that wait is gone (asyncio)
        return true;
    }
}

inline std::coroutine_handle<> PromiseBase::complete() noexcept {
    state_ = FrameState::finished;
    wake_waiters();
    schedule_done_callbacks();
    if (is_task_) {
        // The loop stops owning the task; handles may keep the frame alive a while longer.
        LoopCore& loop = *loop_;
        loop.tasks().move_to_finished(*this);
        if (AIO_UNLIKELY(loop.tasks().report_failures) && has_exception() && !is_cancelled() && !exception_retrieved_)
            loop.call_exception_handler({"unhandled exception during aio::run() shutdown", take_exception(), name()});
        release(); // the loop's reference; may free this frame
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
    LoopCore* loop = owner_loop();
    if (!loop) loop = tls_running_core; // a finished lazy coroutine: the caller's loop runs it
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
    LoopCore* loop = owner_loop();
    for (CallbackNode* node = oldest_first; node;) {
        auto* done = static_cast<DoneCallbackNode*>(std::exchange(node, node->next));
        done->bind(*this);
        loop->push_ready({ReadyItem::callback, done});
    }
}

inline PromiseBase::~PromiseBase() {
    if (is_task_ && loop_) { // a task's loop_ is cleared when the loop closes, so this loop is alive
        if (state_ == FrameState::finished) loop_->tasks().forget_finished(*this);
        if (AIO_UNLIKELY(exception_ && !exception_retrieved_ && !cancelled_))
            loop_->call_exception_handler({"Task exception was never retrieved (await the task or call result())",
                                           exception_, name()});
    }
    if (extras_) {
        for (CallbackNode* node = extras_->done_callbacks; node;) std::exchange(node, node->next)->release();
        delete extras_;
    }
}

} // namespace aio::detail
