// aio::Task<T> — the lazy coroutine type: the promise and its result storage, the
// final awaiter, and the awaiter that either runs a lazy coroutine inline or waits for a
// started task.
#pragma once

#include <concepts>
#include <coroutine>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <aio/detail/frame_pool.hpp>
#include <aio/detail/promise_base.hpp>
#include <aio/errors.hpp>

namespace aio {

template <class T>
class Task;

namespace detail {

struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
        return h.promise().complete();
    }
    void await_resume() noexcept {}
};

template <class T>
class ResultStorage {
public:
    template <class U>
        requires std::constructible_from<T, U&&>
    void return_value(U&& value) {
        value_.emplace(std::forward<U>(value));
    }
    T& stored() noexcept { return *value_; }

private:
    std::optional<T> value_;
};

template <class T>
class ResultStorage<T&> {
public:
    void return_value(T& value) noexcept { value_ = &value; }
    T& stored() noexcept { return *value_; }

private:
    T* value_ = nullptr;
};

template <>
class ResultStorage<void> {
public:
    void return_void() noexcept {}
};

template <class T>
class Promise final : public PromiseBase, public ResultStorage<T> {
public:
    inline Task<T> get_return_object() noexcept;
    static void* operator new(std::size_t size) { return FramePool::allocate(size); }
    static void operator delete(void* frame, std::size_t size) noexcept { FramePool::deallocate(frame, size); }
    std::suspend_always initial_suspend() noexcept { return {}; }
    FinalAwaiter final_suspend() noexcept { return {}; }
    void unhandled_exception() noexcept { record_exception(); }

    /// The outcome: rethrows the exception, else the value — moved out when `Move`.
    template <bool Move>
    decltype(auto) outcome() {
        if (has_exception()) std::rethrow_exception(take_exception());
        exception_retrieved_ = true;
        if constexpr (std::is_void_v<T>) {
            return;
        } else if constexpr (std::is_reference_v<T>) {
            return static_cast<T>(this->stored());
        } else if constexpr (Move) {
            return T(std::move(this->stored()));
        } else {
            return static_cast<T&>(this->stored());
        }
    }
};

/// The error for a task used from a task of another loop than its own; names both loops.
[[noreturn, gnu::noinline, gnu::cold]] inline void throw_different_loop(const LoopCore* task_loop,
                                                                      const LoopCore* running_loop) {
    throw RuntimeError("the task is attached to a different event loop (" + loop_name(task_loop ? &task_loop->loop() : nullptr) +
                       ") than the running one (" + loop_name(running_loop ? &running_loop->loop() : nullptr) +
                       "); use aio::run_coroutine_threadsafe() to hand work to another loop's thread");
}

/// Throws aio::RuntimeError, naming both loops, when `frame` is a task of another loop than
/// the running one: a combinator must not link into another thread's frames.
inline void check_task_loop(const PromiseBase& frame) {
    LoopCore* running = tls_running_core;
    if (frame.is_task() && frame.loop_ && running && frame.loop_ != running) throw_different_loop(frame.loop_, running);
}


} // namespace detail

/// A type-erased, copyable handle to any task (what current_task() and all_tasks() return).
/// An empty TaskRef (`!valid()`) refers to nothing; its members throw aio::InvalidStateError.
class TaskRef {
public:
    TaskRef() noexcept = default;
    TaskRef(const TaskRef& other) noexcept : TaskRef(other.p_) {}
    TaskRef(TaskRef&& other) noexcept : p_(std::exchange(other.p_, nullptr)) {}
    TaskRef& operator=(TaskRef other) noexcept {
        std::swap(p_, other.p_);
        return *this;
    }
    ~TaskRef() {
        if (p_) p_->release();
    }

    bool valid() const noexcept { return p_ != nullptr; }
    explicit operator bool() const noexcept { return valid(); }

    /// True once the task returned, threw or was cancelled.
    bool done() const { return frame("done()").done(); }
    /// True if the task finished by CancelledError.
    bool cancelled() const { return frame("cancelled()").done() && p_->is_cancelled(); }
    /// Requests cancellation: CancelledError(msg) is delivered at the task's current (or next)
    /// suspension point, and whatever it awaits is cancelled too. Returns false if already done.
    bool cancel(std::string message = {}) { return frame("cancel()").cancel(std::move(message)); }
    /// Number of pending cancellation requests.
    int cancelling() const { return frame("cancelling()").cancelling(); }
    /// Decrements cancelling(); at 0 a cancellation not yet delivered is withdrawn.
    int uncancel() { return frame("uncancel()").uncancel(); }

    /// The exception the task raised, or nullptr if it returned. Throws aio::InvalidStateError
    /// when not done and CancelledError when cancelled (as asyncio).
    std::exception_ptr exception() const {
        detail::PromiseBase& f = frame("exception()");
        if (!f.done()) throw InvalidStateError("exception() called on a task that is not done; co_await it first");
        std::exception_ptr error = f.take_exception();
        if (f.is_cancelled()) std::rethrow_exception(error);
        return error;
    }

    /// "Task-N" unless set_name() or create_task() gave a name.
    std::string get_name() const { return frame("get_name()").name(); }
    void set_name(std::string name) { frame("set_name()").set_name(std::move(name)); }

    /// Schedules `fn(TaskRef)` (or `fn()`) on the loop once the task is done, at once if it is.
    template <class F>
    void add_done_callback(F fn) {
        add_typed_done_callback<TaskRef>(std::move(fn));
    }

    friend bool operator==(const TaskRef& a, const TaskRef& b) noexcept { return a.p_ == b.p_; }

protected:
    friend struct detail::TaskAccess;
    /// Shares the frame (adds a reference).
    explicit TaskRef(detail::PromiseBase* frame) noexcept : p_(frame) {
        if (p_) p_->add_ref();
    }

    detail::PromiseBase& frame(const char* what) const { return detail::frame_of(p_, what); }

    template <class Handle, class F>
    void add_typed_done_callback(F fn) {
        class Node final : public detail::DoneCallbackNode {
        public:
            explicit Node(F f) : fn_(std::move(f)) {}
            void invoke() {
                if constexpr (std::is_invocable_v<F&, Handle&>) {
                    Handle handle = detail::TaskAccess::as<Handle>(finished_);
                    fn_(handle);
                } else {
                    fn_();
                }
            }

        private:
            F fn_;
        };
        static_assert(std::is_invocable_v<F&, Handle&> || std::is_invocable_v<F&>,
                      "a done callback takes the task handle, or nothing");
        frame("add_done_callback()").add_done_callback(new Node(std::move(fn)));
    }

    detail::PromiseBase* p_ = nullptr;
};

namespace detail {

/// `co_await task`: a lazy coroutine runs inline in the awaiting task (no trip through the
/// ready queue); a started task is waited for. A lazy child starts by symmetric transfer where
/// the compiler makes that a tail call (AIO_SYMMETRIC_START, config.hpp): deep nesting and long
/// runs of sequential awaits then cost no C stack. Elsewhere (-O0) the child runs inside
/// await_suspend and, when it finishes there, await_suspend returns false instead of resuming
/// through a chain of transfers that would not be tail calls.
template <class T, bool Move>
class TaskAwaiter final : private Waiter {
public:
    explicit TaskAwaiter(Task<T> task) noexcept : task_(std::move(task)) {}
    TaskAwaiter(const TaskAwaiter&) = delete;
    TaskAwaiter& operator=(const TaskAwaiter&) = delete;
    ~TaskAwaiter() { Waiter::unlink(); }

    bool await_ready() {
        if (AIO_UNLIKELY(!task_.valid()))
            throw InvalidStateError("co_await on an empty aio::Task (default-constructed or moved from); "
                                    "await the Task that calling a coroutine returns");
        return task_.promise().done();
    }

#if AIO_SYMMETRIC_START
    template <class P>
    AIO_ALWAYS_INLINE std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) {
        Promise<T>& child = task_.promise();
        PromiseBase& task = running_task(h);
        if (!child.started() && !child.is_task()) {
            start_inline(child, task, h);
            return child.self_; // its end transfers back to h the same way
        }
        if (wait_for_task(child, task, h)) return std::noop_coroutine();
        return h;
    }
#else
    template <class P>
    AIO_ALWAYS_INLINE bool await_suspend(std::coroutine_handle<P> h) {
        Promise<T>& child = task_.promise();
        PromiseBase& task = running_task(h);
        if (!child.started() && !child.is_task()) {
            start_inline(child, task, h);
            child.inline_start_ = true;
            child.self_.resume();
            child.inline_start_ = false;
            return !child.done(); // finished already: continue without suspending
        }
        return wait_for_task(child, task, h);
    }
#endif

    decltype(auto) await_resume() {
        if (waiting_) waiting_->throw_if_cancelled();
        return task_.promise().template outcome<Move>();
    }

private:
    friend class WaitRef;

    static void start_inline(Promise<T>& child, PromiseBase& task, std::coroutine_handle<> h) noexcept {
        child.state_ = FrameState::running;
        child.task_ = &task;
        child.resume_point_ = h; // its awaiter, resumed when it finishes
    }

    // Waits for a started task; false when the awaiter must not suspend.
    bool wait_for_task(Promise<T>& child, PromiseBase& task, std::coroutine_handle<> h) {
        if (AIO_UNLIKELY(child.owner_loop() != task.loop_)) throw_different_loop(child.owner_loop(), task.loop_);
        if (AIO_UNLIKELY(&child == &task))
            throw RuntimeError("a task cannot await itself");
        waiting_ = &task;
        if (task.cancel_pending()) return false; // await_resume delivers it
        on_done = &wake;
        child.add_waiter(*this);
        task.park(h, WaitRef::to(*this));
        return true;
    }

    // Cancelling the waiting task cancels the awaited task instead (PromiseBase::cancel); the
    // wait stays armed and wakes once that task has finished.
    PromiseBase* awaited_task() noexcept { return task_.promise().is_task() ? &task_.promise() : nullptr; }
    bool on_cancel(const std::string&) noexcept {
        Waiter::unlink();
        return false;
    }
    void detach() noexcept { Waiter::unlink(); }

    static void wake(Waiter* waiter) {
        static_cast<TaskAwaiter*>(waiter)->waiting_->wake();
    }

    Task<T> task_;
    PromiseBase* waiting_ = nullptr;
};

} // namespace detail

/// A lazy coroutine: calling a function returning Task<T> runs nothing until the Task is
/// awaited (it then runs inline in the awaiter) or given to create_task (it then runs as a task
/// the loop owns). Copies refer to the same coroutine; any number of tasks may co_await a
/// started task and each gets its result. `co_await std::move(t)` moves the result out, so
/// move-only T works. Use from the loop's thread only.
template <class T = void>
class [[nodiscard]] Task : public TaskRef {
public:
    using promise_type = detail::Promise<T>;
    using value_type = T;

    Task() noexcept = default;

    /// The result: rethrows the task's exception (CancelledError if cancelled).
    /// Throws aio::InvalidStateError when the task is not done.
    decltype(auto) result() const& {
        check_done();
        return promise().template outcome<false>();
    }
    decltype(auto) result() && {
        check_done();
        return promise().template outcome<true>();
    }

    /// Schedules `fn(Task<T>&)` (or `fn()`) once the task is done, at once if it is.
    template <class F>
    void add_done_callback(F fn) {
        this->template add_typed_done_callback<Task>(std::move(fn));
    }

    auto operator co_await() const& noexcept { return detail::TaskAwaiter<T, false>(*this); }
    auto operator co_await() && noexcept { return detail::TaskAwaiter<T, true>(std::move(*this)); }

private:
    friend struct detail::TaskAccess;
    template <class U, bool Move>
    friend class detail::TaskAwaiter;

    promise_type& promise() const noexcept { return static_cast<promise_type&>(*p_); }
    explicit Task(detail::PromiseBase* frame) noexcept : TaskRef(frame) {}
    void check_done() const {
        if (!frame("result()").done())
            throw InvalidStateError("result() called on a task that is not done yet; co_await the task instead");
    }

    friend class detail::Promise<T>;
};

/// What create_task returns: the same handle as Task<T>, without [[nodiscard]]. A scheduled
/// task runs whether or not anyone keeps a handle to it, so dropping this one is fine
/// (dropping an unscheduled Task is the bug [[nodiscard]] on Task catches).
template <class T = void>
class ScheduledTask : public Task<T> {
public:
    ScheduledTask() noexcept = default;
    ScheduledTask(Task<T> task) noexcept : Task<T>(std::move(task)) {} // NOLINT: implicit on purpose
};

template <class T>
inline Task<T> detail::Promise<T>::get_return_object() noexcept {
    self_ = std::coroutine_handle<Promise>::from_promise(*this);
    return Task<T>(this);
}

} // namespace aio
