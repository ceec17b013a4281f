// aio::Lock — mutual exclusion between the tasks of one event loop (asyncio.Lock).
//
//   aio::Lock lock;
//   {
//       auto guard = co_await lock.scoped();   // async with lock:
//       ...                                    //     ...
//   }                                          // released here, even on an exception
#pragma once

#include <coroutine>
#include <string>

#include <aio/detail/promise_base.hpp>
#include <aio/detail/waiter_list.hpp>
#include <aio/errors.hpp>

namespace aio {

class Lock;

namespace detail {

class ConditionWait;

/// The awaitable Lock::acquire() returns. It allocates nothing: its wait node lives in the
/// awaiting coroutine's frame.
using LockAcquire = HandoffAcquire<Lock>;

} // namespace detail

/// A mutual-exclusion lock for the tasks of one event loop (asyncio.Lock). Not thread-safe.
///
/// FIFO-fair: release() hands the lock straight to the task that has waited longest, so it
/// stays locked() in between and a task arriving later cannot take it first. As in asyncio
/// the lock has no owner: any task may release it. The lock binds to the loop of the first
/// task that waits on it; waiting on it from another loop's task throws aio::RuntimeError.
/// It must outlive the tasks that use it (as a std::mutex must).
class Lock {
public:
    /// What `co_await lock.scoped()` returns: releases the lock when it goes out of scope.
    using Guard = detail::ReleaseGuard<Lock>;

    Lock() noexcept = default;
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;

    /// `co_await lock.acquire()` waits until the lock is free, then takes it. Completes at once,
    /// without suspending, when the lock is free.
    /// Cancel-safe: a task cancelled while waiting does not hold the lock, and a task cancelled
    /// after release() handed it the lock but before it ran passes the lock on to the next
    /// waiter (or unlocks it) before CancelledError is raised.
    /// Throws aio::RuntimeError when waiting from a task of another loop than the lock's.
    detail::LockAcquire acquire() noexcept { return detail::LockAcquire(*this); }

    /// `auto guard = co_await lock.scoped();` acquires (as acquire(), with the same
    /// cancellation safety) and returns a Guard that releases the lock at scope exit.
    detail::ScopedAcquire<Lock, detail::LockAcquire> scoped() noexcept {
        return detail::ScopedAcquire<Lock, detail::LockAcquire>(*this);
    }

    /// Releases the lock: the longest-waiting task gets it, else it becomes free.
    /// Throws aio::RuntimeError if the lock is not locked.
    AIO_ALWAYS_INLINE void release() {
        loop_.check_caller("Lock::release");
        if (AIO_LIKELY(locked_ && waiters_.empty())) {
            locked_ = false;
            return;
        }
        release_slow();
    }

    /// True while some task holds the lock (or has been handed it and has not run yet).
    bool locked() const noexcept { return locked_; }

private:
    friend detail::LockAcquire;
    friend class detail::ConditionWait;
    friend class Condition;

    AIO_NOINLINE void release_slow() {
        if (AIO_UNLIKELY(!locked_))
            throw RuntimeError("Lock::release() on a lock that is not locked; release only a lock you "
                               "acquired (co_await lock.scoped() releases it for you)");
        loop_.check_waker("aio::Lock");
        detail::wake(waiters_.pop_front()); // stays locked: the first waiter owns it now
    }

    bool try_take() noexcept {
        if (locked_) return false;
        locked_ = true; // free means nobody waits
        return true;
    }
    static const char* wait_name() noexcept { return "aio::Lock"; }

    // Ownership passes to the first waiter (the lock stays locked), or the lock becomes free.
    void hand_over() {
        if (waiters_.empty()) locked_ = false;
        else
            detail::wake(waiters_.pop_front());
    }

    bool locked_ = false;
    detail::WaitList waiters_; // non-empty only while locked
    detail::LoopBinding loop_;
};

} // namespace aio
