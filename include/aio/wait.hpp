// aio::wait — wait for some or all of a set of tasks, without cancelling any (asyncio.wait).
#pragma once

#include <aio/detail/chrono.hpp>
#include <optional>
#include <aio/detail/algorithm.hpp>
#include <utility>
#include <vector>

#include <aio/detail/deadline.hpp>
#include <aio/detail/task_set.hpp>
#include <aio/errors.hpp>
#include <aio/task.hpp>

namespace aio {

/// When aio::wait returns.
enum class ReturnWhen {
    first_completed, // as soon as any task finishes
    first_exception, // as soon as any task raises (not cancellation), else when all finish
    all_completed,   // when every task has finished
};

/// What aio::wait gives: the finished tasks (in the order they finished) and the others (in
/// the order given).
template <class T>
struct WaitResult {
    std::vector<Task<T>> done;
    std::vector<Task<T>> pending;
};

namespace detail {

/// `tasks` without repeats (the first occurrence stays), in the order given.
template <class T>
std::vector<Task<T>> unique_tasks(std::vector<Task<T>> tasks) {
    std::vector<std::pair<const PromiseBase*, std::size_t>> sorted;
    sorted.reserve(tasks.size());
    for (std::size_t i = 0; i < tasks.size(); ++i) {
        frame_of(detail::TaskAccess::frame(tasks[i]), "aio::wait()"); // an empty Task throws here
        sorted.emplace_back(detail::TaskAccess::frame(tasks[i]), i);
    }
    std::make_heap(sorted.begin(), sorted.end()); // a heap sort: <bits/stl_heap.h> is light
    std::sort_heap(sorted.begin(), sorted.end());
    std::vector<char> repeat(tasks.size(), 0);
    for (std::size_t i = 1; i < sorted.size(); ++i)
        if (sorted[i].first == sorted[i - 1].first) repeat[sorted[i].second] = true;
    std::vector<Task<T>> unique;
    unique.reserve(tasks.size());
    for (std::size_t i = 0; i < tasks.size(); ++i)
        if (!repeat[i]) unique.push_back(std::move(tasks[i]));
    return unique;
}

template <class T>
Task<WaitResult<T>> wait_tasks(std::vector<Task<T>> tasks, ReturnWhen when, std::optional<Clock::duration> timeout) {
    for (auto& t : tasks) t = ensure_task(std::move(t));
    TaskSet set(std::vector<TaskRef>(tasks.begin(), tasks.end()));
    SetWaitSpec spec;
    spec.when = when == ReturnWhen::first_completed   ? WakeWhen::any_done
                : when == ReturnWhen::first_exception ? WakeWhen::any_raised
                                                      : WakeWhen::all_done;
    if (timeout)
        spec.deadline_ns = deadline_after(LoopAccess::core(get_running_loop()).now_ns(), *timeout);
    spec.on_cancel = OnCancel::detach;
    co_await set.wait(spec);
    WaitResult<T> result;
    std::vector<char> finished(tasks.size(), 0);
    for (std::size_t i : set.finish_order()) {
        finished[i] = true;
        result.done.push_back(tasks[i]);
    }
    for (std::size_t i = 0; i < tasks.size(); ++i)
        if (!finished[i]) result.pending.push_back(tasks[i]);
    co_return result;
}

} // namespace detail

/// Waits until `when` holds for `tasks` (a task given twice counts once), or `timeout` passes,
/// and returns WaitResult{done, pending}. Lazy tasks are scheduled as tasks. Nothing is
/// cancelled: not on timeout and not when the awaiting task is cancelled (it then gets
/// CancelledError and the tasks keep running). Throws aio::ValueError when `tasks` is empty.
template <class T>
Task<WaitResult<T>> wait(std::vector<Task<T>> tasks, ReturnWhen when = ReturnWhen::all_completed,
                         std::optional<Clock::duration> timeout = {}) {
    if (tasks.empty())
        throw ValueError("aio::wait() needs at least one task; the vector of tasks is empty");
    tasks = detail::unique_tasks(std::move(tasks));
    for (auto& t : tasks) detail::schedule_if_running(t);
    return detail::wait_tasks<T>(std::move(tasks), when, timeout);
}

} // namespace aio
