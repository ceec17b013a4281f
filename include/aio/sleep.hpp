// aio::sleep — suspend the calling task for a while (asyncio.sleep).
#pragma once

#include <chrono>
#include <coroutine>

#include <aio/detail/promise_base.hpp>
#include <aio/detail/timer_heap.hpp>
#include <aio/event_loop.hpp>
#include <aio/task.hpp>

namespace aio {

/// The awaitable aio::sleep returns. Awaiting it allocates nothing: the timer lives in the
/// awaiting frame. It converts to Task<> where a Task is needed (create_task, wait_for...).
class [[nodiscard]] SleepAwaitable final : private detail::Wait {
public:
    explicit SleepAwaitable(Clock::duration delay) noexcept : delay_(delay) {}
    SleepAwaitable(const SleepAwaitable&) = delete;
    SleepAwaitable& operator=(const SleepAwaitable&) = delete;
    ~SleepAwaitable() {
        if (timer_) detach();
    }

    bool await_ready() const noexcept { return false; } // even sleep(0s) yields once

    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        task_ = &detail::running_task(h);
        if (task_->cancel_pending()) return false;
        EventLoop& loop = *task_->loop_;
        task_->resume_point_ = h;
        if (delay_ <= Clock::duration::zero()) {
            loop.schedule(*task_); // behind everything already ready: a fair yield
        } else {
            const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(delay_).count();
            timer_ = loop.timers().schedule(loop.now_ns() + ns, &fire, this);
            task_->wait_ = this;
        }
        return true;
    }

    /// Throws CancelledError if the task was cancelled meanwhile.
    void await_resume() { task_->throw_if_cancelled(); }

    /// For APIs that take a Task: a coroutine that awaits this sleep.
    operator Task<>() && { return as_task(delay_); }

private:
    static Task<> as_task(Clock::duration delay) { co_await SleepAwaitable(delay); }

    static void fire(void* arg) {
        auto* self = static_cast<SleepAwaitable*>(arg);
        self->timer_ = {};
        self->task_->wait_ = nullptr;
        self->task_->loop_->schedule(*self->task_);
    }
    bool on_cancel(const std::string&) override {
        detach();
        return false;
    }
    void detach() noexcept override {
        task_->loop_->timers().cancel(timer_);
        timer_ = {};
    }

    Clock::duration delay_;
    detail::PromiseBase* task_ = nullptr;
    detail::TimerId timer_;
};

/// Suspends the calling task for `delay`; `sleep(0s)` (or a negative delay) yields once, behind
/// every task already ready. Cancellation: CancelledError at once, and the timer leaves the heap.
inline SleepAwaitable sleep(Clock::duration delay) noexcept { return SleepAwaitable(delay); }

} // namespace aio
