// aio::LoopOptions, aio::ExceptionContext, aio::Clock — the plain types an EventLoop is made
// and observed with.
#pragma once

#include <aio/detail/chrono.hpp>

#include <exception>
#include <string>

namespace aio {

/// The loop's clock. With `virtual_time` it is still steady_clock's time_point type, but the
/// loop's time() only moves when the loop is idle.
using Clock = std::chrono::steady_clock;

struct LoopOptions {
    /// Debug mode: slow callbacks reported, foreign-thread calls rejected.
    bool debug = false;
    /// Test clock: when nothing is ready and no I/O is pending, time jumps to the next timer.
    bool virtual_time = false;
};

/// What the exception handler receives; `exception` and `task_name` may be empty.
struct ExceptionContext {
    std::string message;
    std::exception_ptr exception;
    std::string task_name;
};

} // namespace aio
