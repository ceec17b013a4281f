// aio::as_completed — the results of a set of tasks in the order they finish
// (asyncio.as_completed).
#pragma once

#include <aio/detail/chrono.hpp>
#include <cstddef>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <aio/detail/deadline.hpp>
#include <aio/detail/task_set.hpp>
#include <aio/errors.hpp>
#include <aio/task.hpp>
#include <aio/wait.hpp>

namespace aio {

template <class T>
class AsCompleted;

namespace detail {

template <class T>
struct AsCompletedState {
    AsCompletedState(std::vector<Task<T>> given, std::optional<std::int64_t> deadline)
        : tasks(std::move(given)), set(std::vector<TaskRef>(tasks.begin(), tasks.end())), deadline_ns(deadline) {}
    // Each result is retrieved when its step is awaited: a failure nobody awaited (the loop
    // broke out early) is still reported as never retrieved.
    std::vector<Task<T>> tasks;
    TaskSet set;
    std::optional<std::int64_t> deadline_ns;
};

template <class T>
Task<T> as_completed_next(std::shared_ptr<AsCompletedState<T>> state, std::size_t k) {
    SetWaitSpec spec;
    spec.when = WakeWhen::more_than;
    spec.count = k;
    spec.deadline_ns = state->deadline_ns;
    spec.on_cancel = OnCancel::detach;
    if (co_await state->set.wait(spec) == SetWaitOutcome::timed_out)
        throw TimeoutError("aio::as_completed(): the timeout passed before the next task finished");
    co_return take_result(state->tasks[state->set.finished_at(k)]);
}

} // namespace detail

/// The range aio::as_completed returns: iterating yields one awaitable per task; awaiting the
/// k-th gives the result of the k-th task to finish (or rethrows its exception). After the
/// timeout, awaiting throws aio::TimeoutError. Cancelling an awaiter cancels no task.
template <class T>
class AsCompleted {
public:
    /// One step of the iteration: `co_await next` waits for the next task to finish.
    class Next {
    public:
        auto operator co_await() const { return detail::as_completed_next<T>(state_, k_).operator co_await(); }
        /// As a Task, for APIs that take one.
        Task<T> task() const { return detail::as_completed_next<T>(state_, k_); }

    private:
        friend class AsCompleted;
        Next(std::shared_ptr<detail::AsCompletedState<T>> state, std::size_t k) : state_(std::move(state)), k_(k) {}
        std::shared_ptr<detail::AsCompletedState<T>> state_;
        std::size_t k_;
    };

    class iterator {
    public:
        using value_type = Next;
        using difference_type = std::ptrdiff_t;
        Next operator*() const { return Next(state_, k_); }
        iterator& operator++() {
            ++k_;
            return *this;
        }
        iterator operator++(int) {
            iterator before = *this;
            ++k_;
            return before;
        }
        friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.k_ == b.k_; }

    private:
        friend class AsCompleted;
        iterator(std::shared_ptr<detail::AsCompletedState<T>> state, std::size_t k) : state_(std::move(state)), k_(k) {}
        std::shared_ptr<detail::AsCompletedState<T>> state_;
        std::size_t k_;
    };

    iterator begin() const { return iterator(state_, 0); }
    iterator end() const { return iterator(state_, state_->tasks.size()); }
    std::size_t size() const noexcept { return state_->tasks.size(); }

private:
    template <class U>
    friend AsCompleted<U> as_completed(std::vector<Task<U>>, std::optional<Clock::duration>);
    explicit AsCompleted(std::shared_ptr<detail::AsCompletedState<T>> state) : state_(std::move(state)) {}
    std::shared_ptr<detail::AsCompletedState<T>> state_;
};

/// Schedules `tasks` (a task given twice counts once) and returns a range of awaitables that
/// complete in the order the tasks finish:
///     for (auto next : aio::as_completed(tasks)) { T r = co_await next; }
/// With `timeout`, awaiting after it has passed throws aio::TimeoutError. Nothing is cancelled.
/// Call from a task (the tasks start at once).
template <class T>
AsCompleted<T> as_completed(std::vector<Task<T>> tasks, std::optional<Clock::duration> timeout = {}) {
    tasks = detail::unique_tasks(std::move(tasks));
    for (auto& t : tasks) t = detail::ensure_task(std::move(t));
    std::optional<std::int64_t> deadline;
    if (timeout)
        deadline = detail::deadline_after(detail::LoopAccess::core(get_running_loop()).now_ns(), *timeout);
    return AsCompleted<T>(std::make_shared<detail::AsCompletedState<T>>(std::move(tasks), deadline));
}

} // namespace aio
