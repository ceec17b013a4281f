// aio::Executor — the interface of anything that runs blocking work away from the loop's
// thread (concurrent.futures.Executor). The loop only needs this; the default ThreadPool is in
// executor.hpp.
#pragma once

#include <aio/detail/function.hpp>

#include <utility>

namespace aio {

/// Runs submitted work somewhere other than the loop's thread (concurrent.futures.Executor).
/// Implement `submit` to plug your own pool into `run_in_executor`.
class Executor {
public:
    virtual ~Executor() = default;
    /// Queues `work`; throws aio::RuntimeError once the executor is shut down.
    virtual void submit(std::function<void()> work) = 0;
    /// Stops accepting work; with `wait`, returns once all queued work has run.
    virtual void shutdown(bool wait = true) = 0;
};

namespace detail {

/// The loop's default executor: owned through the shared_ptr a user handed to
/// set_default_executor, or the ThreadPool made on first use. Type-erased so that a loop's
/// every program does not compile shared_ptr's machinery for a member most never set.
class DefaultExecutor {
public:
    DefaultExecutor() noexcept = default;
    DefaultExecutor(const DefaultExecutor&) = delete;
    DefaultExecutor& operator=(const DefaultExecutor&) = delete;
    ~DefaultExecutor() { reset(); }

    Executor* get() const noexcept { return executor_; }

    /// Holds `owner` (a shared_ptr, or any owning handle) and uses `executor` through it.
    template <class Owner>
    void own(Owner owner) {
        Executor* executor = owner.get();
        auto* held = new Owner(std::move(owner));
        reset();
        executor_ = executor;
        owner_ = held;
        drop_ = [](void* p) noexcept { delete static_cast<Owner*>(p); };
    }

    /// Shuts the executor down (waiting for its work) and lets it go.
    void shutdown() {
        if (executor_)
            executor_->shutdown(true);
        reset();
    }

private:
    void reset() noexcept {
        if (owner_)
            drop_(owner_);
        executor_ = nullptr;
        owner_ = nullptr;
    }

    Executor* executor_ = nullptr;
    void* owner_ = nullptr;
    void (*drop_)(void*) noexcept = nullptr;
};

} // namespace detail
} // namespace aio
