// aio::gather — run tasks concurrently and collect their results in argument order
// (asyncio.gather).
#pragma once

#include <cstddef>
#include <exception>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <aio/detail/awaitable.hpp>
#include <aio/detail/task_set.hpp>
#include <aio/result.hpp>
#include <aio/task.hpp>

namespace aio {

/// Tag: `gather(aio::return_exceptions, ...)` returns each task's outcome as an aio::Result.
struct ReturnExceptions {
    explicit ReturnExceptions() = default;
};
inline constexpr ReturnExceptions return_exceptions{};

/// What gather gives for a Task<T>: T, or std::monostate for void.
template <class T>
using gather_value_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

namespace detail {

template <class T>
gather_value_t<T> gathered_value(Task<T>& task) {
    if constexpr (std::is_void_v<T>) {
        task.result();
        return std::monostate{};
    } else {
        return take_result(task);
    }
}

template <class T>
Result<T> gathered_result(Task<T>& task) {
    if (detail::TaskAccess::frame(task)->has_exception()) return Result<T>(detail::TaskAccess::frame(task)->take_exception());
    if constexpr (std::is_void_v<T>)
        return Result<void>();
    else
        return Result<T>(take_result(task));
}

inline SetWaitSpec gather_spec(bool return_exceptions) {
    SetWaitSpec spec;
    spec.when = return_exceptions ? WakeWhen::all_done : WakeWhen::any_failed;
    spec.on_cancel = OnCancel::cancel_tasks_and_wait;
    return spec;
}

/// A task given twice has one result; with a move-only result type it cannot fill two slots.
template <class T>
void check_not_repeated(const std::vector<TaskRef>& tasks, const TaskRef& task) {
    if constexpr (!std::is_copy_constructible_v<gather_value_t<T>>) {
        std::size_t seen = 0;
        for (const TaskRef& t : tasks) seen += t == task;
        if (seen > 1)
            throw ValueError("aio::gather(): the same task was given more than once and its result type is "
                             "move-only, so only one slot could get the result; pass each task once");
    }
}

/// Waits as gather does; rethrows the first failure unless `return_exceptions`.
// A template only so that a translation unit that never calls it does not compile it: g++
// emits the body of every inline coroutine that is not a template, used or not.
template <class = void>
Task<> gather_wait(std::vector<TaskRef> tasks, bool return_exceptions) {
    for (const TaskRef& t : tasks) mark_retrieved(t);
    TaskSet set(std::move(tasks));
    co_await set.wait(gather_spec(return_exceptions));
    if (!return_exceptions && set.first_failure() != TaskSet::npos)
        std::rethrow_exception(detail::TaskAccess::frame(set.task(set.first_failure()))->take_exception());
}

template <class... T>
Task<std::tuple<gather_value_t<T>...>> gather_tuple(Task<T>... tasks) {
    ((tasks = ensure_task(std::move(tasks))), ...);
    std::vector<TaskRef> refs{TaskRef(tasks)...}; // NOTE: not inside co_await: g++ 12 rejects that
    (check_not_repeated<T>(refs, tasks), ...);
    co_await gather_wait(std::move(refs), false);
    co_return std::tuple<gather_value_t<T>...>{gathered_value(tasks)...};
}

template <class... T>
Task<std::tuple<Result<T>...>> gather_results_tuple(Task<T>... tasks) {
    ((tasks = ensure_task(std::move(tasks))), ...);
    std::vector<TaskRef> refs{TaskRef(tasks)...};
    co_await gather_wait(std::move(refs), true);
    co_return std::tuple<Result<T>...>{gathered_result(tasks)...};
}

template <class T>
Task<std::vector<gather_value_t<T>>> gather_vector(std::vector<Task<T>> tasks) {
    for (auto& t : tasks) t = ensure_task(std::move(t));
    if constexpr (!std::is_copy_constructible_v<gather_value_t<T>>) {
        const std::vector<TaskRef> refs(tasks.begin(), tasks.end());
        for (const TaskRef& t : refs) check_not_repeated<T>(refs, t);
    }
    co_await gather_wait(std::vector<TaskRef>(tasks.begin(), tasks.end()), false);
    std::vector<gather_value_t<T>> values;
    values.reserve(tasks.size());
    for (auto& t : tasks) values.push_back(gathered_value(t));
    co_return values;
}

template <class T>
Task<std::vector<Result<T>>> gather_results_vector(std::vector<Task<T>> tasks) {
    for (auto& t : tasks) t = ensure_task(std::move(t));
    co_await gather_wait(std::vector<TaskRef>(tasks.begin(), tasks.end()), true);
    std::vector<Result<T>> results;
    results.reserve(tasks.size());
    for (auto& t : tasks) results.push_back(gathered_result(t));
    co_return results;
}

} // namespace detail

/// Runs the tasks concurrently; `co_await` gives a std::tuple of their results in argument
/// order (std::monostate for Task<void>). Lazy tasks are scheduled as tasks, at once when a loop
/// is running; any other awaitable (aio::sleep(1s), a lock's acquire(), a user's awaiter) runs
/// as a task that awaits it. The first task to fail (raise, or be cancelled: CancelledError)
/// makes the gather throw that exception; the other tasks are not cancelled and keep running.
/// Cancelling the awaiting task cancels every task, waits for them to finish, then throws
/// CancelledError. A task given twice fills both slots (a copy of its result); with a move-only
/// result that throws aio::ValueError. A task of another loop throws aio::RuntimeError.
template <class... T>
Task<std::tuple<gather_value_t<T>...>> gather(Task<T>... tasks) {
    (detail::schedule_if_running(tasks), ...);
    return detail::runs_when_cancelled(detail::gather_tuple<T...>(std::move(tasks)...));
}

/// gather over awaitables that are not all Tasks: each becomes a Task first (detail::to_task).
template <class... A>
    requires((detail::Awaitable<A> && ...) && !(std::is_base_of_v<TaskRef, std::remove_cvref_t<A>> && ...))
auto gather(A&&... awaitables) {
    return gather(detail::to_task(std::forward<A>(awaitables))...);
}

/// gather over a vector: a std::vector of the results, in order.
template <class T>
Task<std::vector<gather_value_t<T>>> gather(std::vector<Task<T>> tasks) {
    for (auto& t : tasks) detail::schedule_if_running(t);
    return detail::runs_when_cancelled(detail::gather_vector<T>(std::move(tasks)));
}

/// Waits for every task and gives each one's outcome as an aio::Result<T> (a value, or its
/// exception, CancelledError included); never throws for a task's failure. Cancelling the
/// awaiting task cancels every task and throws CancelledError once they have finished.
template <class... T>
Task<std::tuple<Result<T>...>> gather(ReturnExceptions, Task<T>... tasks) {
    (detail::schedule_if_running(tasks), ...);
    return detail::runs_when_cancelled(detail::gather_results_tuple<T...>(std::move(tasks)...));
}

/// gather(return_exceptions, ...) over awaitables that are not all Tasks.
template <class... A>
    requires((detail::Awaitable<A> && ...) && !(std::is_base_of_v<TaskRef, std::remove_cvref_t<A>> && ...))
auto gather(ReturnExceptions tag, A&&... awaitables) {
    return gather(tag, detail::to_task(std::forward<A>(awaitables))...);
}

/// gather(return_exceptions, ...) over a vector.
template <class T>
Task<std::vector<Result<T>>> gather(ReturnExceptions, std::vector<Task<T>> tasks) {
    for (auto& t : tasks) detail::schedule_if_running(t);
    return detail::runs_when_cancelled(detail::gather_results_vector<T>(std::move(tasks)));
}

} // namespace aio
