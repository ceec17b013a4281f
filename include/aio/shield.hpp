// aio::shield — await a task without letting a cancellation of the awaiter reach it
// (asyncio.shield).
#pragma once

#include <utility>

#include <aio/detail/awaitable.hpp>
#include <aio/detail/task_set.hpp>
#include <aio/task.hpp>

namespace aio {

namespace detail {
template <class T>
Task<T> shield_task(Task<T> task) {
    task = ensure_task(std::move(task));
    TaskSet set({TaskRef(task)});
    co_await set.wait(SetWaitSpec{}); // all done; cancelling the awaiter detaches
    co_return take_result(task);
}
} // namespace detail

/// Awaits `task` (scheduling it as a task if it is lazy) and gives its result. Cancelling the
/// awaiting task throws CancelledError in the awaiter at once but leaves `task` running; a task
/// cancelled by other means still makes the awaiter throw CancelledError.
template <class T>
Task<T> shield(Task<T> task) {
    detail::schedule_if_running(task);
    return detail::shield_task<T>(std::move(task));
}

/// shield of any other awaitable (aio::sleep(1s), ...): it runs as a task of its own.
template <class A>
    requires(detail::Awaitable<A> && !std::is_base_of_v<TaskRef, std::remove_cvref_t<A>>)
auto shield(A&& awaitable) {
    return shield(detail::to_task(std::forward<A>(awaitable)));
}

} // namespace aio
