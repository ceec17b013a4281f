// fmt::formatter specialisations for aio::Task, aio::TaskRef and aio's exception types.
//   fmt::format("{}", task)  ->  <Task pending name='Task-1'>
//                                <Task finished name='Task-1' result=42>
//                                <Task finished name='Task-1' exception=boom>
//                                <Task cancelled name='Task-1'>
#pragma once

#include <aio/detail/algorithm.hpp>
#include <string>
#include <string_view>
#include <type_traits>

#include <fmt/core.h>

#include <aio/detail/text_formatter.hpp>

#include <aio/errors.hpp>
#include <aio/event_loop.hpp>
#include <aio/task.hpp>

namespace aio::detail {

// Formatting reads a task and changes nothing: an exception shown here is still "never
// retrieved" if nobody awaits the task, and a result is not consumed.
template <class T>
std::string describe_task(const Task<T>& task) {
    if (!task.valid()) return "<Task empty>";
    detail::PromiseBase& frame = *aio::detail::TaskAccess::frame(task);
    const std::string name = frame.name();
    if (!frame.done()) return fmt::format("<Task pending name='{}'>", name);
    if (frame.is_cancelled()) return fmt::format("<Task cancelled name='{}'>", name);
    if (frame.has_exception())
        return fmt::format("<Task finished name='{}' exception={}>", name, describe(frame.peek_exception()));
    if constexpr (!std::is_void_v<T>) {
        if constexpr (fmt::is_formattable<std::remove_cvref_t<T>>::value)
            return fmt::format("<Task finished name='{}' result={}>", name, aio::detail::TaskAccess::promise(task).stored());
    }
    return fmt::format("<Task finished name='{}'>", name);
}

} // namespace aio::detail

template <class T>
struct fmt::formatter<aio::Task<T>> : aio::detail::TextFormatter {
    template <class Context>
    auto format(const aio::Task<T>& task, Context& ctx) const {
        return write(aio::detail::describe_task(task), ctx);
    }
};

/// What aio::create_task returns formats as the Task it is.
template <class T>
struct fmt::formatter<aio::ScheduledTask<T>> : fmt::formatter<aio::Task<T>> {};

/// A TaskRef has no result type: state and exception only.
template <>
struct fmt::formatter<aio::TaskRef> : aio::detail::TextFormatter {
    template <class Context>
    auto format(const aio::TaskRef& task, Context& ctx) const {
        return write(aio::detail::describe_task(aio::detail::TaskAccess::task<void>(aio::detail::TaskAccess::frame(task))), ctx);
    }
};

/// aio::CancelledError, which is not a std::exception.
template <>
struct fmt::formatter<aio::CancelledError> : aio::detail::TextFormatter {
    template <class Context>
    auto format(const aio::CancelledError& e, Context& ctx) const {
        const std::string text = e.message().empty() ? "CancelledError()" : fmt::format("CancelledError('{}')", e.message());
        return write(text, ctx);
    }
};

#define AIO_DETAIL_EXCEPTION_FORMATTER(Type)                                                          \
    template <>                                                                                       \
    struct fmt::formatter<aio::Type> : aio::detail::TextFormatter {                            \
        template <class Context>                                                                      \
        auto format(const aio::Type& e, Context& ctx) const {                                         \
            return write(fmt::format(#Type ": {}", e.what()), ctx); \
        }                                                                                             \
    };
AIO_DETAIL_EXCEPTION_FORMATTER(RuntimeError)
AIO_DETAIL_EXCEPTION_FORMATTER(InvalidStateError)
AIO_DETAIL_EXCEPTION_FORMATTER(ValueError)
AIO_DETAIL_EXCEPTION_FORMATTER(TimeoutError)
AIO_DETAIL_EXCEPTION_FORMATTER(ExceptionGroup)
AIO_DETAIL_EXCEPTION_FORMATTER(QueueEmpty)
AIO_DETAIL_EXCEPTION_FORMATTER(QueueFull)
AIO_DETAIL_EXCEPTION_FORMATTER(QueueShutDown)
AIO_DETAIL_EXCEPTION_FORMATTER(BrokenBarrierError)
AIO_DETAIL_EXCEPTION_FORMATTER(IncompleteReadError)
AIO_DETAIL_EXCEPTION_FORMATTER(LimitOverrunError)
#undef AIO_DETAIL_EXCEPTION_FORMATTER
