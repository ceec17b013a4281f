// aio::Condition — a condition variable for tasks (asyncio.Condition).
//
//   aio::Condition cond;
//   // consumer                                   // producer
//   auto guard = co_await cond.scoped();          auto guard = co_await cond.scoped();
//   co_await cond.wait_for([&] { return !items.empty(); });
//   take(items);                                  items.push_back(x); cond.notify();
#pragma once

#include <coroutine>
#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <aio/detail/promise_base.hpp>
#include <aio/detail/waiter_list.hpp>
#include <aio/errors.hpp>
#include <aio/lock.hpp>
#include <aio/task.hpp>

namespace aio {

class Condition;

namespace detail {

struct ConditionNode : WaitNode {
    bool notified = false; // moved from the condition's waiters to the lock's by notify()
};

/// The awaitable Condition::wait() returns. One wait node, in the awaiting frame, does both
/// halves of the wait: notify() moves it from the condition's list straight into the lock's
/// (no extra wake-up), and the lock's release() then wakes the task holding the lock.
class [[nodiscard]] ConditionWait : public PrimitiveWait<ConditionWait, Condition, ConditionNode> {
public:
    inline explicit ConditionWait(Condition& condition) noexcept;
    ConditionWait(ConditionWait&& other) noexcept : PrimitiveWait(std::move(other)), lock_(other.lock_) {}

    inline bool await_ready() const;
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h);
    inline void await_resume();
    inline bool on_cancel(const std::string&); // gets the lock back before raising
    inline void detach() noexcept;

private:
    Lock& lock_;
    bool cancelled_ = false; // cancelled while waiting; raised once the lock is held again
};

/// The awaitable Condition::wait_for() returns: evaluates the predicate at once and, only if
/// it is false, runs the wait loop as a coroutine inline in the awaiting task.
template <class Pred>
class [[nodiscard]] ConditionWaitFor {
public:
    using Result = std::decay_t<std::invoke_result_t<Pred&>>;

    ConditionWaitFor(Condition& condition, Pred pred) : condition_(condition), pred_(std::move(pred)) {}
    // Movable until awaited (e.g. into aio::wait_for), never after.
    ConditionWaitFor(ConditionWaitFor&& other) : condition_(other.condition_), pred_(std::move(other.pred_)) {}
    ConditionWaitFor(const ConditionWaitFor&) = delete;
    ConditionWaitFor& operator=(const ConditionWaitFor&) = delete;

    bool await_ready() {
        result_.emplace(pred_());
        return static_cast<bool>(*result_);
    }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) {
        result_.reset();
        loop_.emplace(wait_loop(condition_, pred_));
        if (loop_->await_ready()) return h;
        // The task awaiter transfers to the loop's coroutine, or runs it inline (config.hpp).
        if constexpr (std::is_same_v<decltype(loop_->await_suspend(h)), bool>)
            return loop_->await_suspend(h) ? std::noop_coroutine() : std::coroutine_handle<>(h);
        else
            return loop_->await_suspend(h);
    }
    Result await_resume() {
        if (loop_) return loop_->await_resume();
        return std::move(*result_);
    }

private:
    static Task<Result> wait_loop(Condition& condition, Pred& pred);

    Condition& condition_;
    Pred pred_;
    std::optional<Result> result_;
    std::optional<TaskAwaiter<Result, true>> loop_;
};

} // namespace detail

/// A condition variable for the tasks of one event loop (asyncio.Condition), tied to a Lock
/// (its own, or one shared with other conditions). Not thread-safe.
///
/// wait() and notify() must be called with the lock held, else they throw aio::RuntimeError.
/// Waiters are notified oldest first and get the lock back in the order they were notified.
/// Binds to the loop of the first task that waits on it; waiting from another loop's task
/// throws aio::RuntimeError. It (and its lock) must outlive the tasks that use it.
class Condition {
public:
    /// What `co_await cond.scoped()` returns: releases the lock at scope exit.
    using Guard = Lock::Guard;

    /// A condition with a lock of its own.
    Condition() noexcept : lock_(&own_lock_) {}
    /// A condition that uses `lock`, which must outlive it (asyncio.Condition(lock)).
    explicit Condition(Lock& lock) noexcept : lock_(&lock) {}
    Condition(const Condition&) = delete;
    Condition& operator=(const Condition&) = delete;

    /// Acquires the underlying lock: as Lock::acquire() (cancel-safe).
    detail::LockAcquire acquire() noexcept { return lock_->acquire(); }
    /// Releases the underlying lock: as Lock::release() (aio::RuntimeError if not locked).
    void release() { lock_->release(); }
    /// True while the underlying lock is held.
    bool locked() const noexcept { return lock_->locked(); }
    /// `auto guard = co_await cond.scoped();` acquires the lock; the guard releases it.
    detail::ScopedAcquire<Lock, detail::LockAcquire> scoped() noexcept { return lock_->scoped(); }

    /// `co_await cond.wait()`: releases the lock, waits until notified, then re-acquires the
    /// lock before returning. Throws aio::RuntimeError at once if the lock is not held.
    /// Cancel-safe, and the lock is always held again when wait() ends: a cancelled wait
    /// re-acquires the lock before CancelledError leaves it (as asyncio), and a task cancelled
    /// after it was notified passes the notification on to the next waiter, so no notify() is
    /// lost (better than asyncio, which always notifies one more waiter then).
    detail::ConditionWait wait() noexcept { return detail::ConditionWait(*this); }

    /// `co_await cond.wait_for(pred)`: waits until `pred()` is true and returns its result;
    /// `pred` is evaluated with the lock held, first at once, then after every wake-up.
    /// Returns at once, without suspending (and, as in asyncio, without checking the lock),
    /// if `pred()` is already true; else it needs the lock held, as wait(). It allocates one
    /// coroutine frame only when it has to wait. Cancel-safe as wait(); exceptions from `pred`
    /// propagate with the lock held.
    template <class Pred>
    detail::ConditionWaitFor<Pred> wait_for(Pred pred) {
        return detail::ConditionWaitFor<Pred>(*this, std::move(pred));
    }

    /// Wakes up to `n` waiting tasks, oldest first; each returns from wait() once it holds the
    /// lock again (after the caller releases it). Throws aio::RuntimeError if the lock is not held.
    void notify(std::size_t n = 1) {
        loop_.check_caller("Condition::notify");
        check_locked("notify");
        if (n > 0 && !waiters_.empty()) loop_.check_waker("aio::Condition");
        transfer(n);
    }

    /// Wakes every waiting task. Throws aio::RuntimeError if the lock is not held.
    void notify_all() { notify(std::numeric_limits<std::size_t>::max()); }

private:
    friend class detail::ConditionWait;
    template <class Pred>
    friend class detail::ConditionWaitFor;

    void check_locked(const char* what) const {
        if (AIO_UNLIKELY(!lock_->locked()))
            throw RuntimeError(std::string("Condition::") + what +
                               "() without holding the condition's lock; co_await cond.acquire() (or "
                               "cond.scoped()) first");
    }

    // Moves up to n waiters from the condition to the lock's queue (the lock is held).
    void transfer(std::size_t n) {
        for (; n > 0 && !waiters_.empty(); --n) {
            auto& node = static_cast<detail::ConditionNode&>(waiters_.pop_front());
            node.notified = true;
            lock_->waiters_.push_back(node);
        }
    }

    Lock own_lock_; // unused when a lock was given
    Lock* lock_;
    detail::WaitList waiters_;
    detail::LoopBinding loop_;
};

// --- ConditionWait ----------------------------------------------------------------------------

inline detail::ConditionWait::ConditionWait(Condition& condition) noexcept
    : PrimitiveWait(condition), lock_(*condition.lock_) {}

inline bool detail::ConditionWait::await_ready() const {
    primitive_.check_locked("wait");
    return false;
}

template <class P>
bool detail::ConditionWait::await_suspend(std::coroutine_handle<P> h) {
    PromiseBase& task = running_task(h);
    primitive_.loop_.bind(task.loop_, "aio::Condition");
    lock_.loop_.bind(task.loop_, "aio::Lock");
    node_.task = &task;
    if (task.cancel_pending()) return false; // delivered by await_resume, the lock still held
    lock_.hand_over();
    primitive_.waiters_.push_back(node_);
    task.park(h, WaitRef::to(*this));
    return true;
}

inline bool detail::ConditionWait::on_cancel(const std::string&) {
    if (!node_.linked()) return false; // orphaned: the condition or its lock is gone
    if (node_.notified || cancelled_) {
        cancelled_ = true; // already queued for the lock: keep waiting for it
        return true;
    }
    // Waiting for a notification: leave, then get the lock back before raising.
    primitive_.waiters_.remove(node_);
    cancelled_ = true;
    if (!lock_.locked_) {
        lock_.locked_ = true;
        node_.state = WaitState::woken;
        return false; // the caller wakes the task with the cancellation pending
    }
    lock_.waiters_.push_back(node_);
    return true; // release() wakes the task; await_resume raises CancelledError
}

// The loop is closing and will destroy the frame. A wait that had given the lock up takes it
// back when it is free, as a cancelled wait would, so that the guard the frame holds releases a
// lock that is held.
inline void detail::ConditionWait::detach() noexcept {
    if (!node_.linked()) return; // orphaned, or never waited
    node_.list->remove(node_);
    if (!lock_.locked_) lock_.locked_ = true;
}

inline void detail::ConditionWait::await_resume() {
    PromiseBase& task = *node_.task;
    // Not woken: cancelled before waiting (the lock was never released) or orphaned.
    if (node_.state != WaitState::woken) throw_cancelled(task);
    if (AIO_LIKELY(!cancelled_ && !task.cancel_pending())) return;
    // Cancelled, with the lock held again. A notification it consumed goes to the next waiter.
    if (node_.notified && !primitive_.waiters_.empty()) primitive_.transfer(1);
    throw_cancelled(task);
}

template <class Pred>
Task<typename detail::ConditionWaitFor<Pred>::Result> detail::ConditionWaitFor<Pred>::wait_loop(Condition& condition,
                                                                                               Pred& pred) {
    for (;;) {
        co_await condition.wait();
        Result result = pred();
        if (static_cast<bool>(result)) co_return std::move(result);
    }
}

} // namespace aio
