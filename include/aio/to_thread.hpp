// aio::to_thread and EventLoop::run_in_executor — blocking work on a thread pool, awaited
// from a task.
#pragma once

#include <coroutine>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include <aio/detail/promise_base.hpp>
#include <aio/detail/threadsafe_inbox.hpp>
#include <aio/event_loop.hpp>
#include <aio/executor.hpp>
#include <aio/task.hpp>

namespace aio::detail {

template <class R>
class ExecutorAwaiter;

/// The state one executor call shares between the worker thread and the loop. The worker
/// writes the outcome, then posts `finish` through the loop's inbox (whose mutex orders the
/// two); everything else is touched on the loop thread only.
template <class R>
class ExecutorCall {
public:
    explicit ExecutorCall(const InboxRef& inbox) : inbox_(inbox) {}

    template <class F>
    void run_and_post(F& fn, const std::shared_ptr<ExecutorCall>& self) noexcept {
        try {
            if constexpr (std::is_void_v<R>)
                fn();
            else if constexpr (std::is_reference_v<R>)
                value_ = &fn();
            else
                value_.emplace(fn());
        } catch (...) {
            error_ = std::current_exception();
        }
        try {
            inbox_->post(make_callback([self] { self->finish(); }));
        } catch (...) {
            // Out of memory posting the result: the awaiter would hang; nothing better to do
            // from a worker thread than drop it.
        }
    }

    // Loop thread only.
    bool finished = false;
    ExecutorAwaiter<R>* waiter = nullptr;
    std::exception_ptr error_;
    std::conditional_t<std::is_void_v<R>, bool,
                       std::conditional_t<std::is_reference_v<R>, std::remove_reference_t<R>*, std::optional<R>>>
        value_{};

    void finish();

    // The loop that waits for the result, so it knows executor work is in flight (the test
    // clock does not jump meanwhile); counted from submit() until finish() runs on the loop.
    LoopCore* loop = nullptr;

private:
    InboxRef inbox_;
};

template <class R>
class ExecutorAwaiter final {
public:
    explicit ExecutorAwaiter(std::shared_ptr<ExecutorCall<R>> call) noexcept : call_(std::move(call)) {}
    ExecutorAwaiter(const ExecutorAwaiter&) = delete;
    ExecutorAwaiter& operator=(const ExecutorAwaiter&) = delete;
    ~ExecutorAwaiter() {
        if (call_->waiter == this) call_->waiter = nullptr;
    }

    bool await_ready() const noexcept { return call_->finished; }

    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        task_ = &running_task(h);
        if (task_->cancel_pending()) return false;
        call_->waiter = this;
        task_->park(h, WaitRef::to(*this));
        return true;
    }

    R await_resume() {
        if (task_) task_->throw_if_cancelled();
        if (call_->error_) std::rethrow_exception(call_->error_);
        if constexpr (std::is_void_v<R>)
            return;
        else if constexpr (std::is_reference_v<R>)
            return static_cast<R>(*call_->value_);
        else
            return std::move(*call_->value_);
    }

    void wake() { task_->wake(); }

private:
    friend class WaitRef;
    bool on_cancel(const std::string&) {
        call_->waiter = nullptr; // the work goes on; its result will be dropped
        return false;
    }
    void detach() noexcept { call_->waiter = nullptr; }

    std::shared_ptr<ExecutorCall<R>> call_;
    PromiseBase* task_ = nullptr;
};

template <class R>
void ExecutorCall<R>::finish() {
    if (loop) std::exchange(loop, nullptr)->clock().executor_call_finished();
    finished = true;
    if (auto* w = std::exchange(waiter, nullptr)) w->wake();
}

template <class R>
Task<R> await_executor_call(std::shared_ptr<ExecutorCall<R>> call) {
    if constexpr (std::is_void_v<R>)
        co_await ExecutorAwaiter<R>(std::move(call));
    else
        co_return co_await ExecutorAwaiter<R>(std::move(call));
}

} // namespace aio::detail

namespace aio {

template <class F, class... Args>
auto EventLoop::run_in_executor(Executor* executor, F&& fn, Args&&... args) {
    using R = std::invoke_result_t<std::decay_t<F>&, std::decay_t<Args>&...>;
    check_usable("run_in_executor");
    if (!executor && !default_executor_.get()) default_executor_.own(std::make_unique<ThreadPool>()); // on first use
    Executor& target = executor ? *executor : *default_executor_.get();
    auto call = std::make_shared<detail::ExecutorCall<R>>(inbox_);
    call->loop = core();
    struct Bound {
        std::decay_t<F> fn;
        std::tuple<std::decay_t<Args>...> args;
    };
    auto bound = std::make_shared<Bound>(Bound{std::forward<F>(fn), {std::forward<Args>(args)...}});
    clock_.executor_call_started();
    try {
        target.submit([call, bound]() mutable {
            auto invoke = [&]() -> R { return std::apply(bound->fn, bound->args); }; // member pointers too
            call->run_and_post(invoke, call);
            bound.reset(); // release captured arguments on the worker, before the loop sees the result
        });
    } catch (...) {
        call->loop = nullptr;
        clock_.executor_call_finished();
        throw;
    }
    return detail::await_executor_call<R>(std::move(call));
}

/// Runs `fn(args...)` on the running loop's default executor (a ThreadPool of min(32, cores+4)
/// threads) and returns a Task for its result; the call starts at once. Exceptions reach the
/// awaiter. Cancelling the awaiter does not stop the function (as asyncio); its result is dropped.
/// Throws aio::RuntimeError when no loop is running.
template <class F, class... Args>
auto to_thread(F&& fn, Args&&... args) {
    EventLoop* loop = detail::tls_running_loop;
    if (!loop) throw RuntimeError("aio::to_thread() needs a running event loop; call it from a task");
    return loop->run_in_executor(nullptr, std::forward<F>(fn), std::forward<Args>(args)...);
}

} // namespace aio
