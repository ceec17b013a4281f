// aio::Event — a flag that tasks can wait for (asyncio.Event).
//
//   aio::Event ready;
//   ... co_await ready.wait(); ...     // in the waiting tasks
//   ready.set();                        // wakes every one of them, in the order they came
#pragma once

#include <coroutine>
#include <string>

#include <aio/detail/promise_base.hpp>
#include <aio/detail/waiter_list.hpp>

namespace aio {

class Event;

namespace detail {

/// The awaitable Event::wait() returns; its wait node lives in the awaiting frame.
class [[nodiscard]] EventWait : public PrimitiveWait<EventWait, Event> {
public:
    using PrimitiveWait::PrimitiveWait;

    AIO_ALWAYS_INLINE bool await_ready() const noexcept;
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h);
    void await_resume() const { resume_plain(); }
};

} // namespace detail

/// An event flag for the tasks of one event loop (asyncio.Event). Not thread-safe.
/// set() wakes every task waiting at that moment, each once, in the order they started
/// waiting; clear() resets the flag for later waits. Binds to the loop of the first task that
/// waits on it; waiting from another loop's task throws aio::RuntimeError. It must outlive the
/// tasks that wait on it.
class Event {
public:
    Event() noexcept = default;
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;

    /// True once set() was called, until clear().
    bool is_set() const noexcept { return set_; }

    /// Sets the flag and wakes every waiting task (oldest first). Does nothing if already set.
    void set() {
        loop_.check_caller("Event::set");
        if (set_) return;
        if (!waiters_.empty()) loop_.check_waker("aio::Event");
        set_ = true;
        detail::wake_all(waiters_);
    }

    /// Resets the flag: later wait()s block until the next set().
    void clear() {
        loop_.check_caller("Event::clear");
        set_ = false;
    }

    /// `co_await event.wait()` returns once the flag is set — at once, without suspending, if it
    /// already is. Cancel-safe: a cancelled wait leaves the waiter list; set() consumes nothing,
    /// so there is nothing to hand on. Throws aio::RuntimeError when waiting from a task of
    /// another loop than the event's.
    detail::EventWait wait() noexcept { return detail::EventWait(*this); }

private:
    friend class detail::EventWait;

    bool set_ = false;
    detail::WaitList waiters_; // non-empty only while not set
    detail::LoopBinding loop_;
};

AIO_ALWAYS_INLINE bool detail::EventWait::await_ready() const noexcept { return primitive_.set_; }

template <class P>
bool detail::EventWait::await_suspend(std::coroutine_handle<P> h) {
    return park_in(primitive_.waiters_, primitive_.loop_, "aio::Event", h);
}

} // namespace aio
