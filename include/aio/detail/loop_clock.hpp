// aio::detail — the loop's clock: real time read at most once per iteration, or the test
// clock (LoopOptions::virtual_time), which only moves when the loop is idle, by jumping to the
// next timer. Everything the loop's iteration needs to know about time is asked here, so the
// iteration itself has no test-clock branches.
#pragma once

#include <aio/detail/algorithm.hpp>
#include <aio/detail/chrono.hpp>
#include <aio/detail/deadline.hpp>

#include <cstddef>
#include <cstdint>

namespace aio::detail {

class LoopClock {
public:
    explicit LoopClock(bool virtual_time) noexcept
        : virtual_(virtual_time), now_ns_(real_now_ns()), fresh_(virtual_time) {}

    static std::int64_t real_now_ns() noexcept {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
            .count();
    }

    bool is_virtual() const noexcept { return virtual_; }

    /// The loop's now: the real clock is read on first use in an iteration, then cached; the
    /// test clock is always current.
    std::int64_t now_ns() const noexcept {
        if (!fresh_) {
            now_ns_ = real_now_ns();
            fresh_ = true;
        }
        return now_ns_;
    }

    /// A new iteration has polled: the real clock must be read again.
    void after_poll() noexcept {
        if (!virtual_)
            fresh_ = false;
    }

    /// How long the poll may block when nothing is ready, given the earliest timer (never_ns:
    /// none): until that timer on the real clock; on the test clock not at all when time may
    /// jump to it (or it is due), else until I/O arrives.
    int poll_timeout_ms(std::int64_t next_deadline) const noexcept {
        if (next_deadline == never_ns)
            return -1;
        if (virtual_)
            return next_deadline <= now_ns_ || may_jump() ? 0 : -1;
        const std::int64_t wait_ns = next_deadline - real_now_ns();
        if (wait_ns <= 0)
            return 0;
        return static_cast<int>(
            std::min<std::int64_t>((wait_ns + 999'999) / 1'000'000, 24 * 3600 * 1000));
    }

    /// The test clock's jump: when the iteration found nothing to do (`idle`), time moves to
    /// the next deadline (never to never_ns, never backwards). A no-op on the real clock.
    void advance_if_idle(bool idle, std::int64_t next_deadline) noexcept {
        if (!virtual_ || !idle || !may_jump() || next_deadline == never_ns)
            return;
        now_ns_ = std::max(now_ns_, next_deadline);
    }

    /// Executor calls whose results have not reached the loop yet: while there are any, the
    /// test clock does not jump (time only auto-advances when nothing but timers can make
    /// progress, as Tokio's paused clock).
    void executor_call_started() noexcept { ++executor_calls_in_flight_; }
    void executor_call_finished() noexcept { --executor_calls_in_flight_; }

private:
    bool may_jump() const noexcept { return executor_calls_in_flight_ == 0; }

    bool virtual_;
    mutable std::int64_t now_ns_;
    mutable bool fresh_;
    std::size_t executor_calls_in_flight_ = 0;
};

} // namespace aio::detail
