// aio::wait_for / aio::timeout_at — await with a deadline (asyncio.wait_for, asyncio.timeout_at).
#pragma once

#include <aio/detail/chrono.hpp>
#include <type_traits>
#include <utility>

#include <aio/detail/awaitable.hpp>
#include <aio/detail/deadline.hpp>
#include <aio/detail/task_set.hpp>
#include <aio/event_loop.hpp>
#include <aio/task.hpp>

namespace aio {

namespace detail {

/// `deadline_ns` is absolute, or relative to the loop's time when the coroutine starts.
template <class T>
Task<T> timeout_at_task(std::int64_t deadline_ns, bool relative, Task<T> task) {
    get_running_loop(); // throws when there is none
    LoopCore& loop = *tls_running_core;
    if (relative) deadline_ns = deadline_after(loop.now_ns(), std::chrono::nanoseconds(deadline_ns));
    PromiseBase& frame = *detail::TaskAccess::frame(task);
    check_task_loop(frame);
    if (frame.done()) co_return take_result(task); // finished already: its outcome, whatever the deadline
    if (deadline_ns <= loop.now_ns() && !frame.is_task() && !frame.started()) {
        frame.cancel({}); // a lazy coroutine whose time is already up never starts
        throw TimeoutError("the deadline had already passed; the operation was not started");
    }
    task = ensure_task(std::move(task));
    mark_retrieved(task);
    TaskSet set({TaskRef(task)});
    SetWaitSpec spec;
    spec.when = WakeWhen::all_done;
    spec.deadline_ns = deadline_ns;
    spec.on_deadline = OnDeadline::cancel_tasks_and_wait;
    spec.on_cancel = OnCancel::cancel_tasks_and_wait;
    const SetWaitOutcome outcome = co_await set.wait(spec);
    if (outcome == SetWaitOutcome::timed_out && task.cancelled())
        throw TimeoutError("the operation did not finish before its deadline and was cancelled");
    co_return take_result(task); // its value if it finished anyway, or what it raised while cancelling
}

} // namespace detail

/// Awaits `awaitable` (a Task, any aio awaitable or a user's awaiter) for at most `timeout`
/// (Clock::duration::max(): no limit). On expiry it cancels
/// the operation, waits until it has finished cancelling, then throws aio::TimeoutError. If the
/// operation swallows the cancellation and returns a value, that value is returned; if it
/// raises something else while cancelling, that exception replaces the TimeoutError. A timeout
/// <= 0 on a coroutine that has not started throws TimeoutError without starting it.
/// Cancelling the awaiting task cancels the operation, waits for it, and throws CancelledError.
/// The operation runs as a task of its own (as asyncio before 3.12), so current_task() inside it
/// is that task. Call from a task.
template <class A>
auto wait_for(A&& awaitable, Clock::duration timeout) {
    auto task = detail::to_task(std::forward<A>(awaitable));
    using T = typename decltype(task)::value_type;
    if (timeout > Clock::duration::zero()) detail::schedule_if_running(task);
    return detail::runs_when_cancelled(detail::timeout_at_task<T>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count(), true, std::move(task)));
}

/// As wait_for, with an absolute deadline on the loop's clock (loop.time() + ...).
template <class A>
auto timeout_at(Clock::time_point deadline, A&& awaitable) {
    auto task = detail::to_task(std::forward<A>(awaitable));
    using T = typename decltype(task)::value_type;
    const std::int64_t deadline_ns = detail::deadline_at(deadline);
    if (detail::tls_running_core && deadline_ns > detail::tls_running_core->now_ns()) detail::schedule_if_running(task);
    return detail::runs_when_cancelled(detail::timeout_at_task<T>(deadline_ns, false, std::move(task)));
}

} // namespace aio
