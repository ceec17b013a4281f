// aio::Executor — the interface of anything that runs blocking work away from the loop's
// thread (concurrent.futures.Executor). The loop only needs this; the default ThreadPool is in
// executor.hpp.
#pragma once

#include <aio/detail/function.hpp>

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

} // namespace aio
