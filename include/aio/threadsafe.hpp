// aio::run_coroutine_threadsafe — hand a coroutine to another thread's loop.
#pragma once

#include <exception>
#include <future>
#include <memory>
#include <type_traits>
#include <utility>

#include <aio/detail/awaitable.hpp>
#include <aio/event_loop.hpp>
#include <aio/task.hpp>

namespace aio {

namespace detail {
template <class T>
Task<> forward_outcome(Task<T> task, std::shared_ptr<std::promise<T>> promise) {
    try {
        if constexpr (std::is_void_v<T>) {
            co_await std::move(task);
            promise->set_value();
        } else {
            promise->set_value(co_await std::move(task));
        }
    } catch (...) {
        promise->set_exception(std::current_exception()); // CancelledError included
    }
}
} // namespace detail

/// Schedules `task` as a task on `loop` from any thread and returns a future for its result
/// (its exception, including CancelledError, is stored in the future). Throws
/// aio::RuntimeError when the loop is closed. Don't wait on the future from the loop's own
/// thread: that blocks the loop that must produce the value.
template <class T>
std::future<T> run_coroutine_threadsafe(Task<T> task, EventLoop& loop) {
    auto promise = std::make_shared<std::promise<T>>();
    std::future<T> future = promise->get_future();
    EventLoop* target = &loop;
    loop.call_soon_threadsafe([task = std::move(task), promise, target]() mutable {
        try {
            target->create_task(detail::forward_outcome<T>(std::move(task), promise));
        } catch (...) {
            promise->set_exception(std::current_exception());
        }
    });
    return future;
}

/// run_coroutine_threadsafe of any other awaitable (aio::sleep(1s), ...), as a task that awaits it.
template <class A>
    requires(detail::Awaitable<A> && !std::is_base_of_v<TaskRef, std::remove_cvref_t<A>>)
auto run_coroutine_threadsafe(A&& awaitable, EventLoop& loop) {
    return run_coroutine_threadsafe(detail::to_task(std::forward<A>(awaitable)), loop);
}

} // namespace aio
