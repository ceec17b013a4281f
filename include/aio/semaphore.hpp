// aio::Semaphore and aio::BoundedSemaphore — a counter of permits (asyncio.Semaphore,
// asyncio.BoundedSemaphore).
//
//   aio::Semaphore slots(10);                    // at most 10 requests at once
//   auto permit = co_await slots.scoped();       // async with slots:
//   co_await fetch(url);                         //     ...
#pragma once

#include <coroutine>
#include <cstddef>
#include <limits>
#include <string>

#include <aio/detail/promise_base.hpp>
#include <aio/detail/waiter_list.hpp>
#include <aio/errors.hpp>

namespace aio {

class Semaphore;

namespace detail {

/// The awaitable Semaphore::acquire() returns; its wait node lives in the awaiting frame.
using SemaphoreAcquire = HandoffAcquire<Semaphore>;

} // namespace detail

/// A semaphore for the tasks of one event loop (asyncio.Semaphore): acquire() takes one of
/// the permits, waiting while there is none; release() gives one back. Not thread-safe.
///
/// FIFO-fair: release() hands its permit straight to the task that has waited longest, so a
/// task arriving later cannot take it first. Binds to the loop of the first task that waits on
/// it; waiting from another loop's task throws aio::RuntimeError. It must outlive the tasks
/// that use it.
class Semaphore {
public:
    /// What `co_await semaphore.scoped()` returns: releases the permit at scope exit.
    using Guard = detail::ReleaseGuard<Semaphore>;

    /// A semaphore with `value` permits (asyncio's default is 1).
    /// Throws aio::ValueError when `value` is negative.
    explicit Semaphore(std::ptrdiff_t value = 1)
        : Semaphore(value, std::numeric_limits<std::size_t>::max(), "aio::Semaphore") {}
    Semaphore(const Semaphore&) = delete;
    Semaphore& operator=(const Semaphore&) = delete;

    /// `co_await semaphore.acquire()` takes a permit, waiting until one is free; completes at
    /// once, without suspending, when one is. Cancel-safe: a task cancelled while waiting takes
    /// no permit, and a task cancelled after release() handed it a permit but before it ran
    /// hands the permit on to the next waiter (or back to the semaphore).
    /// Throws aio::RuntimeError when waiting from a task of another loop than the semaphore's.
    detail::SemaphoreAcquire acquire() noexcept { return detail::SemaphoreAcquire(*this); }

    /// `auto permit = co_await semaphore.scoped();` acquires (as acquire()) and returns a Guard
    /// that releases the permit at scope exit.
    detail::ScopedAcquire<Semaphore, detail::SemaphoreAcquire> scoped() noexcept {
        return detail::ScopedAcquire<Semaphore, detail::SemaphoreAcquire>(*this);
    }

    /// Gives a permit back: the longest-waiting task gets it, else the count goes up.
    /// A BoundedSemaphore throws aio::ValueError when this would exceed its initial value.
    AIO_ALWAYS_INLINE void release() {
        loop_.check_caller("Semaphore::release");
        if (AIO_LIKELY(waiters_.empty() && value_ < bound_)) {
            ++value_;
            return;
        }
        release_slow();
    }

    /// True when acquire() would have to wait (no permit is free).
    bool locked() const noexcept { return value_ == 0; }

protected:
    Semaphore(std::ptrdiff_t value, std::size_t bound, const char* kind) : name_(kind) {
        if (value < 0)
            throw ValueError(std::string(kind) + " initial value must be >= 0, got " + std::to_string(value));
        value_ = static_cast<std::size_t>(value);
        bound_ = bound == 0 ? value_ : bound;
    }

private:
    friend detail::SemaphoreAcquire;

    bool try_take() noexcept {
        if (value_ == 0) return false;
        --value_; // a free permit means nobody waits
        return true;
    }
    const char* wait_name() const noexcept { return name_; }

    AIO_NOINLINE void release_slow() {
        if (AIO_UNLIKELY(value_ >= bound_))
            throw ValueError(std::string(name_) + " released too many times: release() was called more often "
                             "than acquire() (use co_await semaphore.scoped() to pair them)");
        loop_.check_waker(name_);
        detail::wake(waiters_.pop_front()); // the permit goes straight to the first waiter
    }

    // The permit goes to the first waiter, or back to the count.
    void hand_over() {
        if (waiters_.empty()) ++value_;
        else
            detail::wake(waiters_.pop_front());
    }

    std::size_t value_ = 0;  // free permits; 0 while tasks wait
    std::size_t bound_ = 0;  // release() throws at this value (BoundedSemaphore), else SIZE_MAX
    const char* name_;
    detail::WaitList waiters_;
    detail::LoopBinding loop_;
};

/// A Semaphore that refuses to be released more often than it was acquired
/// (asyncio.BoundedSemaphore): release() throws aio::ValueError when the number of free
/// permits would exceed the initial value.
class BoundedSemaphore : public Semaphore {
public:
    /// Throws aio::ValueError when `value` is negative.
    explicit BoundedSemaphore(std::ptrdiff_t value = 1) : Semaphore(value, 0, "aio::BoundedSemaphore") {}
};

} // namespace aio
