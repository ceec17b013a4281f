// aio — the exception types. Messages say what went wrong and what to do instead.
#pragma once

#include <cstddef>
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

/// Queue::get_nowait() found no item to take (asyncio.QueueEmpty).
class QueueEmpty : public std::runtime_error {
public:
    QueueEmpty() : std::runtime_error("get_nowait() on an empty queue; co_await queue.get() to wait for an item") {}
    using std::runtime_error::runtime_error;
};

/// Queue::put_nowait() found no free slot (asyncio.QueueFull).
class QueueFull : public std::runtime_error {
public:
    QueueFull() : std::runtime_error("put_nowait() on a full queue; co_await queue.put(item) to wait for a free slot") {}
    using std::runtime_error::runtime_error;
};

/// A put on a queue that was shut down, or a get on one that is shut down and empty
/// (asyncio.QueueShutDown, Python 3.13).
class QueueShutDown : public std::runtime_error {
public:
    QueueShutDown() : std::runtime_error("the queue was shut down; stop putting and getting") {}
    using std::runtime_error::runtime_error;
};

/// Barrier::wait() on a broken barrier, or one reset or aborted while the task waited
/// (asyncio.BrokenBarrierError, which is a RuntimeError too).
class BrokenBarrierError : public RuntimeError {
public:
    BrokenBarrierError() : RuntimeError("the barrier is broken (reset or aborted); reset() it before waiting again") {}
    using RuntimeError::RuntimeError;
};

/// StreamReader::readexactly(n) met end of file first (asyncio.IncompleteReadError).
/// partial() holds the bytes that did arrive (they are no longer in the stream).
class IncompleteReadError : public std::runtime_error {
public:
    IncompleteReadError(std::string partial, std::size_t expected)
        : std::runtime_error(std::to_string(partial.size()) + " bytes read on a total of " +
                             std::to_string(expected) +
                             " expected bytes: the peer closed the stream first; partial() has "
                             "what arrived"),
          partial_(std::move(partial)), expected_(expected) {}
    const std::string& partial() const noexcept { return partial_; }
    std::size_t expected() const noexcept { return expected_; }

private:
    std::string partial_;
    std::size_t expected_;
};

/// StreamReader::readuntil() / readline() found no separator within the stream's limit
/// (asyncio.LimitOverrunError). The data stays in the stream; consumed() is how many bytes
/// must be read (e.g. with read(n)) to get past them.
class LimitOverrunError : public std::runtime_error {
public:
    LimitOverrunError(const std::string& message, std::size_t consumed)
        : std::runtime_error(message), consumed_(consumed) {}
    std::size_t consumed() const noexcept { return consumed_; }

private:
    std::size_t consumed_;
};

} // namespace aio
