// aio::detail — deadline arithmetic on the loop's nanosecond clock, in one place.
//
// Deadlines are absolute nanosecond counts. "Forever" (Clock::duration::max(),
// Clock::time_point::max()) must neither overflow nor fire, so every "now + delay" saturates
// here, and a deadline of `never_ns` is one no clock reaches: the loop never fires it, never
// waits for it and the test clock never jumps to it.
#pragma once

#include <aio/detail/chrono.hpp>

#include <cstdint>
#include <limits>

namespace aio::detail {

inline constexpr std::int64_t never_ns = std::numeric_limits<std::int64_t>::max();
inline constexpr std::int64_t long_ago_ns = std::numeric_limits<std::int64_t>::min();

/// `now_ns + delay`, saturated: a delay too long for the clock gives never_ns.
constexpr std::int64_t deadline_after(std::int64_t now_ns,
                                      std::chrono::nanoseconds delay) noexcept {
    const std::int64_t d = delay.count();
    if (d > 0 && now_ns > never_ns - d)
        return never_ns;
    if (d < 0 && now_ns < long_ago_ns - d)
        return long_ago_ns;
    return now_ns + d;
}

/// A time point of the loop's clock as a deadline (time_point::max() is never_ns).
template <class TimePoint>
constexpr std::int64_t deadline_at(TimePoint when) noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
}

} // namespace aio::detail
