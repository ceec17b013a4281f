// aio::sleep — suspend the calling task for a while (asyncio.sleep).
#pragma once

#include <aio/detail/chrono.hpp>
#include <concepts>
#include <coroutine>

#include <aio/detail/promise_base.hpp>
#include <aio/detail/timer_heap.hpp>
#include <aio/event_loop.hpp>
#include <aio/run.hpp>
#include <aio/task.hpp>

namespace aio {

/// The awaitable aio::sleep returns. Awaiting it allocates nothing: the timer lives in the
/// awaiting frame. It converts to Task<> where a Task is needed (create_task, wait_for...).
class [[nodiscard]] SleepAwaitable final {
public:
    explicit SleepAwaitable(Clock::duration delay) noexcept : delay_(delay) {}
    SleepAwaitable(const SleepAwaitable&) = delete;
    SleepAwaitable& operator=(const SleepAwaitable&) = delete;
    // No destructor on purpose: a frame is only ever destroyed while suspended here by
    // EventLoop::close(), which detaches the wait first; cancellation disarms it too. Keeping
    // the awaiter trivially destructible (and its other fields unset until await_suspend)
    // is what makes a yield cheap.

    bool await_ready() const noexcept { return false; } // even sleep(0s) yields once

    template <class P>
    AIO_ALWAYS_INLINE bool await_suspend(std::coroutine_handle<P> h) {
        detail::PromiseBase& task = detail::running_task(h);
        task_ = &task;
        if (delay_ <= Clock::duration::zero()) {
            // Behind everything already ready: a fair yield. A pending cancellation is
            // delivered by await_resume on the next turn.
            task.resume_point_ = h;
            task.loop_->schedule(task);
            return true;
        }
        if (AIO_UNLIKELY(task.cancel_pending())) return false;
        task.resume_point_ = h;
        arm_timer();
        return true;
    }

    /// Throws CancelledError if the task was cancelled meanwhile.
    AIO_ALWAYS_INLINE void await_resume() { task_->throw_if_cancelled(); }

    /// For APIs that take a Task: a coroutine that awaits this sleep.
    template <class T>
        requires std::is_void_v<T>
    operator Task<T>() && {
        return sleep_task(delay_);
    }
    template <class = void>
    Task<> as_task() && {
        return sleep_task(delay_);
    }

private:
    friend class detail::WaitRef;
    // A template so that only a unit that calls it compiles it (g++ emits every non-template
    // inline coroutine).
    template <class = void>
    static Task<> sleep_task(Clock::duration delay) {
        co_await SleepAwaitable(delay);
    }

    // Out of line so the yield path above stays small enough to inline.
    [[gnu::noinline]] void arm_timer() {
        detail::LoopCore& loop = *task_->loop_;
        // Saturated: sleep(Clock::duration::max()) is a timer that never fires.
        timer_ = loop.timers().schedule(detail::deadline_after(loop.now_ns(), delay_), &fire, this); // delay_ is done with
        task_->wait_ = detail::WaitRef::to(*this);
    }

    static void fire(void* arg) {
        auto* self = static_cast<SleepAwaitable*>(arg);
        self->timer_ = {};
        self->task_->wake();
    }
    bool on_cancel(const std::string&) {
        detach();
        return false;
    }
    void detach() noexcept {
        task_->loop_->timers().cancel(timer_);
        timer_ = {};
    }

    // The delay until the timer is armed, the timer after: an awaiter as small as this keeps
    // a yielding coroutine's locals within one cache line.
    union {
        Clock::duration delay_;
        detail::TimerId timer_;
    };
    detail::PromiseBase* task_; // set by await_suspend
};

/// Suspends the calling task for `delay`; `sleep(0s)` (or a negative delay) yields once, behind
/// every task already ready; `sleep(Clock::duration::max())` sleeps until cancelled. Cancellation: CancelledError at once, and the timer leaves the heap.
inline SleepAwaitable sleep(Clock::duration delay) noexcept { return SleepAwaitable(delay); }

// Where a Task is needed, a sleep becomes one (sleep() is a Task<> to the caller).
/// `aio::create_task(aio::sleep(d))` on the running loop.
template <std::same_as<SleepAwaitable> Sleep> // a template: only compiled where used (see sleep_task)
ScheduledTask<void> create_task(Sleep&& sleep, std::string name = {}) {
    return get_running_loop().create_task(std::move(sleep), std::move(name));
}

/// `aio::run(aio::sleep(d))`.
template <std::same_as<SleepAwaitable> Sleep> // a template: only compiled where used (see sleep_task)
void run(Sleep&& sleep, RunOptions options = {}) {
    run(std::move(sleep).as_task(), options);
}

} // namespace aio
