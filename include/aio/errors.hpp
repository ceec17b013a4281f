// aio — the exception types (SPEC §10). Messages say what went wrong and what to do instead.
#pragma once

#include <exception>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace aio {

/// A loop or task used in a way its state does not allow (asyncio's RuntimeError):
/// a closed loop, `run()` inside a running loop, a task awaited from another loop.
class RuntimeError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// An operation that needs a different task state, e.g. `result()` before the task is done.
class InvalidStateError : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

/// An argument with a value the operation cannot accept.
class ValueError : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

/// A deadline passed before the awaited operation finished (`wait_for`, `timeout_at`).
class TimeoutError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Delivered to a task at its suspension point when it is cancelled.
///
/// Deliberately *not* derived from `std::exception` (as asyncio.CancelledError stopped
/// deriving from Exception in Python 3.8): `catch (const std::exception&)` must not swallow
/// a cancellation. Catch it only to clean up, then rethrow.
class CancelledError {
public:
    CancelledError() = default;
    explicit CancelledError(std::string message) : message_(std::move(message)) {}
    /// The message given to `Task::cancel(msg)`; empty when none was given.
    const std::string& message() const noexcept { return message_; }
    const char* what() const noexcept { return message_.empty() ? "CancelledError" : message_.c_str(); }

private:
    std::string message_;
};

/// Several exceptions raised together, e.g. by the children of a TaskGroup.
class ExceptionGroup : public std::runtime_error {
public:
    ExceptionGroup(const std::string& message, std::vector<std::exception_ptr> exceptions)
        : std::runtime_error(message), exceptions_(std::move(exceptions)) {}
    /// Every child's exception, in the order they were raised.
    const std::vector<std::exception_ptr>& exceptions() const noexcept { return exceptions_; }

private:
    std::vector<std::exception_ptr> exceptions_;
};

} // namespace aio
