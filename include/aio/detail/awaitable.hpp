// aio::detail — any awaitable as a Task: what lets the combinators (gather, wait_for,
// timeout_at, shield, TaskGroup::create_task, run_coroutine_threadsafe) take aio::sleep(),
// aio::wait_readable(), a Lock's acquire() or a user's own awaitable as well as a Task.
#pragma once

#include <aio/task.hpp>

#include <concepts>
#include <coroutine>
#include <type_traits>
#include <utility>

namespace aio::detail {

/// The awaiter `co_await a` uses: a's member operator co_await() if it has one, else a itself.
template <class A>
decltype(auto) awaiter_of(A&& a) {
    if constexpr (requires { std::forward<A>(a).operator co_await(); })
        return std::forward<A>(a).operator co_await();
    else
        return std::forward<A>(a);
}

/// What `co_await a` gives for an expression of type A&&.
template <class A>
using await_result_t =
    decltype(std::declval<std::remove_cvref_t<decltype(awaiter_of(std::declval<A>()))>&>()
                 .await_resume());

/// Something a Task coroutine can co_await: a Task, an aio awaitable, or a user's own awaiter.
template <class A>
concept Awaitable = requires(A&& a) {
    awaiter_of(std::forward<A>(a)).await_ready();
    typename await_result_t<A>;
};

template <class A>
Task<await_result_t<A>> await_owned(A awaitable) {
    co_return co_await std::move(awaitable);
}

template <class A>
Task<await_result_t<A&>> await_in_place(A& awaitable) {
    co_return co_await awaitable;
}

/// A Task for `awaitable`: itself if it is one, its own conversion if it has one (aio::sleep),
/// else a lazy coroutine that awaits it — moved into the coroutine when it is an rvalue, awaited
/// in place (never copied) when it is an lvalue, which must then outlive the Task.
template <class A>
auto to_task(A&& awaitable) {
    using Plain = std::remove_cvref_t<A>;
    if constexpr (requires { typename Plain::promise_type; })
        return Task<typename Plain::value_type>(std::forward<A>(awaitable));
    else if constexpr (std::is_convertible_v<A&&, Task<await_result_t<A>>>)
        return static_cast<Task<await_result_t<A>>>(std::forward<A>(awaitable));
    else if constexpr (std::is_lvalue_reference_v<A>)
        return await_in_place(awaitable);
    else
        return await_owned<Plain>(std::move(awaitable));
}

/// The Task type to_task gives for A.
template <class A>
using task_for_t = decltype(to_task(std::declval<A>()));

} // namespace aio::detail
