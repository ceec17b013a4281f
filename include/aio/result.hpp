// aio::Result<T> — a value or the exception that replaced it (gather(return_exceptions, ...)).
#pragma once

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include <aio/errors.hpp>

namespace aio {

/// Holds either a T or an exception (including aio::CancelledError).
template <class T>
class Result {
public:
    template <class U>
        requires std::is_constructible_v<T, U&&>
    explicit Result(U&& value) : value_(std::forward<U>(value)) {}
    explicit Result(std::exception_ptr error) noexcept : error_(std::move(error)) {}

    bool has_value() const noexcept { return !error_; }
    explicit operator bool() const noexcept { return has_value(); }
    /// The value; rethrows the exception when there is none.
    T& value() & {
        if (error_) std::rethrow_exception(error_);
        return *value_;
    }
    const T& value() const& {
        if (error_) std::rethrow_exception(error_);
        return *value_;
    }
    T&& value() && {
        if (error_) std::rethrow_exception(error_);
        return std::move(*value_);
    }
    /// The exception, or nullptr when there is a value.
    std::exception_ptr exception() const noexcept { return error_; }

private:
    std::optional<T> value_;
    std::exception_ptr error_;
};

template <class T>
class Result<T&> {
public:
    explicit Result(T& value) noexcept : value_(&value) {}
    explicit Result(std::exception_ptr error) noexcept : error_(std::move(error)) {}
    bool has_value() const noexcept { return !error_; }
    explicit operator bool() const noexcept { return has_value(); }
    T& value() const {
        if (error_) std::rethrow_exception(error_);
        return *value_;
    }
    std::exception_ptr exception() const noexcept { return error_; }

private:
    T* value_ = nullptr;
    std::exception_ptr error_;
};

template <>
class Result<void> {
public:
    Result() noexcept = default;
    explicit Result(std::exception_ptr error) noexcept : error_(std::move(error)) {}
    bool has_value() const noexcept { return !error_; }
    explicit operator bool() const noexcept { return has_value(); }
    /// Rethrows the exception, if any.
    void value() const {
        if (error_) std::rethrow_exception(error_);
    }
    std::exception_ptr exception() const noexcept { return error_; }

private:
    std::exception_ptr error_;
};

} // namespace aio
