// aio::CancellableAwaiter — the protocol every aio awaitable follows (sleep, fd waits, Lock,
// Semaphore, Event, Condition, Queue, Barrier, executor calls), offered to users who write
// their own: suspend the task, wake it exactly once, and let cancellation and loop close
// reach it.
//
//   class Flag;                                   // something that fires callbacks
//   class FlagWait : public aio::CancellableAwaiter<FlagWait> {
//   public:
//       explicit FlagWait(Flag& flag) : flag_(flag) {}
//       bool ready() const { return flag_.is_set(); }    // optional fast path
//       void arm() { flag_.on_set([this] { wake(); }); }  // register; wake() later, on the loop
//       void disarm() noexcept { flag_.forget(); }       // cancelled, or the loop closes
//   private:
//       Flag& flag_;
//   };
//   co_await FlagWait(flag);   // CancelledError when the task is cancelled while waiting
#pragma once

#include <aio/detail/promise_base.hpp>
#include <aio/detail/waiter_list.hpp>
#include <aio/errors.hpp>

#include <coroutine>
#include <string>
#include <utility>

namespace aio {

/// Base for a cancellable awaitable. `Derived` provides:
///   void arm();                    register with the event source (may throw: nothing waits)
///   void disarm() noexcept;        unregister: the task was cancelled or the loop is closing
///   bool ready() const;            optional: true completes at once without suspending
///   R result();                    optional: what co_await returns once woken (else void)
/// and calls wake() from the loop's thread (a callback, a timer, another task) when the event
/// happens. wake() is safe to call more than once and after cancellation: only the first call
/// while the task waits resumes it, by one trip through the loop's ready queue.
/// Cancellation: disarm() runs, then CancelledError is raised from co_await. A cancellation
/// that arrives after wake() is delivered at the task's next suspension point, so a result
/// produced by the event is never lost. Awaiting it outside an aio task throws aio::RuntimeError.
template <class Derived>
class CancellableAwaiter {
public:
    CancellableAwaiter() noexcept = default;
    CancellableAwaiter(const CancellableAwaiter&) = delete;
    CancellableAwaiter& operator=(const CancellableAwaiter&) = delete;

    bool await_ready() const {
        if constexpr (requires(const Derived& d) { d.ready(); })
            return static_cast<const Derived&>(*this).ready();
        else
            return false;
    }

    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        detail::PromiseBase& task = detail::running_task(h);
        task_ = &task;
        if (task.cancel_pending())
            return false; // delivered by await_resume, nothing armed
        static_cast<Derived&>(*this).arm();
        waiting_ = true;
        task.park(h, detail::WaitRef::to(*this));
        return true;
    }

    decltype(auto) await_resume() {
        // Suspended and not woken: it was cancelled (before waiting, or while it waited).
        if (task_ && !woken_)
            detail::throw_cancelled(*task_);
        if constexpr (requires(Derived & d) { d.result(); })
            return static_cast<Derived&>(*this).result();
    }

    /// Resumes the waiting task (once); a no-op when it is not waiting.
    void wake() {
        if (!std::exchange(waiting_, false))
            return;
        woken_ = true;
        task_->wake();
    }

    // The WaitRef operations (see detail/promise_base.hpp).
    bool on_cancel(const std::string&) noexcept {
        if (std::exchange(waiting_, false))
            static_cast<Derived&>(*this).disarm();
        return false; // the loop wakes the task with the CancelledError
    }
    void detach() noexcept {
        if (std::exchange(waiting_, false))
            static_cast<Derived&>(*this).disarm();
    }

protected:
    ~CancellableAwaiter() = default;

private:
    detail::PromiseBase* task_ = nullptr;
    bool waiting_ = false;
    bool woken_ = false;
};

} // namespace aio
