// aio::Barrier — lets a fixed number of tasks wait until all of them have arrived
// (asyncio.Barrier, Python 3.11).
//
//   aio::Barrier barrier(3);
//   std::size_t index = co_await barrier.wait();   // 0, 1 or 2: the order of arrival
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <string>

#include <aio/detail/promise_base.hpp>
#include <aio/detail/waiter_list.hpp>
#include <aio/errors.hpp>

namespace aio {

class Barrier;

namespace detail {

struct BarrierNode : WaitNode {
    std::size_t index = 0;
    bool counted = false; // inside the barrier (has its arrival index): leaving counts down
};

/// The awaitable Barrier::wait() returns; its wait node lives in the awaiting frame.
class [[nodiscard]] BarrierWait : public PrimitiveWait<BarrierWait, Barrier, BarrierNode> {
public:
    using PrimitiveWait::PrimitiveWait;

    inline bool await_ready();
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h);
    inline std::size_t await_resume();
    inline bool on_cancel(const std::string&); // leaving counts down

private:
    enum class Ready : std::uint8_t { no, passed, broken };
    Ready ready_ = Ready::no;
};

} // namespace detail

/// A barrier for `parties` tasks of one event loop (asyncio.Barrier, Python 3.11). Not
/// thread-safe. Each wait() blocks until `parties` tasks are waiting; then all of them return,
/// each with its arrival index (0 for the first to arrive, parties - 1 for the last), and
/// the barrier can be used again. Tasks that arrive while the released ones are still leaving
/// (draining) wait for the next round. The indices of a round are always 0 .. parties - 1, each
/// once, numbered when the barrier fills (better than asyncio, whose indices repeat after a
/// waiter was cancelled).
///
/// abort() breaks the barrier: every wait(), current or later, throws
/// aio::BrokenBarrierError until reset(). reset() returns it to the empty state; tasks waiting
/// at that moment get BrokenBarrierError. Unlike asyncio's, reset() and abort() are plain
/// functions: with a single-threaded loop they never need to wait.
/// Binds to the loop of the first task that waits on it; waiting from another loop's task
/// throws aio::RuntimeError. It must outlive the tasks that wait on it.
class Barrier {
public:
    /// Throws aio::ValueError when `parties` < 1.
    explicit Barrier(std::ptrdiff_t parties) {
        if (parties < 1) throw ValueError("Barrier parties must be >= 1, got " + std::to_string(parties));
        parties_ = static_cast<std::size_t>(parties);
    }
    Barrier(const Barrier&) = delete;
    Barrier& operator=(const Barrier&) = delete;

    /// `std::size_t i = co_await barrier.wait();` waits until `parties()` tasks wait, then
    /// returns this task's arrival index. The last task to arrive does not suspend.
    /// Throws aio::BrokenBarrierError when the barrier is broken, or is reset or aborted while
    /// this task waits (also a released task that has not run yet when that happens, as asyncio).
    /// Cancel-safe: a cancelled task leaves the barrier at once and its place no longer counts
    /// towards `parties()` (better than asyncio, where it still counts until the task runs).
    detail::BarrierWait wait() noexcept { return detail::BarrierWait(*this); }

    /// Returns the barrier to the empty, filling state. Tasks waiting in it get
    /// aio::BrokenBarrierError; the barrier becomes usable once they have left.
    void reset() {
        loop_.check_caller("Barrier::reset");
        if (count_ == 0) {
            state_ = State::filling;
            admit_blocked();
            return;
        }
        if (!waiting_.empty()) loop_.check_waker("aio::Barrier");
        state_ = State::resetting;
        detail::wake_all(waiting_);
    }

    /// Breaks the barrier: every task in wait() and every later wait() throws
    /// aio::BrokenBarrierError, until reset().
    void abort() {
        loop_.check_caller("Barrier::abort");
        if (!waiting_.empty() || !blocked_.empty()) loop_.check_waker("aio::Barrier");
        state_ = State::broken;
        detail::wake_all(waiting_);
        detail::wake_all(blocked_);
    }

    /// The number of tasks needed to pass the barrier.
    std::size_t parties() const noexcept { return parties_; }
    /// The number of tasks waiting for the barrier to fill (0 while it drains or resets).
    std::size_t n_waiting() const noexcept { return state_ == State::filling ? count_ : 0; }
    /// True after abort(), until reset().
    bool broken() const noexcept { return state_ == State::broken; }

private:
    friend class detail::BarrierWait;
    enum class State : std::uint8_t { filling, draining, resetting, broken };

    // A task enters the filling barrier; true if it is the last one needed.
    bool enter(detail::BarrierNode& node) noexcept {
        ++count_;
        node.counted = true;
        return count_ == parties_;
    }
    // `last` filled the barrier: number everyone in order of arrival (the waiting list is in
    // that order and holds every other task inside), then release them. `last` goes first, as
    // if it had not waited; it is woken too if it had (let in from the blocked list).
    void trip(detail::BarrierNode& last, bool wake_last) {
        std::size_t index = 0;
        for (detail::WaitNode* node = waiting_.front(); node; node = node->next)
            static_cast<detail::BarrierNode*>(node)->index = index++;
        last.index = index;
        state_ = State::draining;
        if (wake_last) detail::wake(last);
        detail::wake_all(waiting_);
    }
    // A task that entered has left wait(), whichever way. The last one out ends draining or
    // resetting, and lets in the tasks that arrived meanwhile.
    void leave() {
        if (--count_ > 0) return;
        if (state_ == State::draining || state_ == State::resetting) state_ = State::filling;
        admit_blocked();
    }
    void admit_blocked() {
        while (state_ == State::filling && !blocked_.empty()) {
            auto& node = static_cast<detail::BarrierNode&>(blocked_.pop_front());
            if (enter(node)) trip(node, true);
            else
                waiting_.push_back(node);
        }
    }

    State state_ = State::filling;
    std::size_t parties_ = 1;
    std::size_t count_ = 0;     // tasks inside: waiting, or released and not yet gone
    detail::WaitList waiting_;  // inside, waiting for the barrier to fill
    detail::WaitList blocked_;  // arrived while draining or resetting: not inside yet
    detail::LoopBinding loop_;
};

// --- BarrierWait --------------------------------------------------------------------------------

inline bool detail::BarrierWait::await_ready() {
    switch (primitive_.state_) {
    case Barrier::State::broken:
        ready_ = Ready::broken;
        return true;
    case Barrier::State::filling:
        if (primitive_.count_ + 1 < primitive_.parties_) return false;
        // The last one needed: release the others and pass without suspending.
        if (!primitive_.waiting_.empty()) primitive_.loop_.check_waker("aio::Barrier");
        primitive_.enter(node_);
        primitive_.trip(node_, false);
        node_.counted = false;
        primitive_.leave();
        ready_ = Ready::passed;
        return true;
    default:
        return false; // draining or resetting: wait for the next round
    }
}

template <class P>
bool detail::BarrierWait::await_suspend(std::coroutine_handle<P> h) {
    PromiseBase& task = running_task(h);
    primitive_.loop_.bind(task.loop_, "aio::Barrier");
    node_.task = &task;
    if (task.cancel_pending()) return false; // never entered: nothing to undo
    if (primitive_.state_ == Barrier::State::filling) {
        primitive_.enter(node_); // not the last one: await_ready checked
        primitive_.waiting_.push_back(node_);
    } else {
        primitive_.blocked_.push_back(node_);
    }
    task.park(h, WaitRef::to(*this));
    return true;
}

inline bool detail::BarrierWait::on_cancel(const std::string&) {
    if (!node_.linked()) return false; // orphaned
    node_.list->remove(node_);
    node_.state = WaitState::cancelled;
    if (node_.counted) { // leave at once: the place no longer counts
        node_.counted = false;
        primitive_.leave();
    }
    return false;
}

inline std::size_t detail::BarrierWait::await_resume() {
    if (ready_ == Ready::passed) return node_.index;
    if (ready_ == Ready::broken)
        throw BrokenBarrierError("Barrier::wait() on a broken barrier (abort() was called); call reset() "
                                 "before using it again");
    PromiseBase& task = *node_.task;
    if (node_.state != WaitState::woken) throw_cancelled(task); // cancelled or orphaned
    if (!node_.counted) { // woken without entering: only abort() does that
        if (task.cancel_pending()) throw_cancelled(task);
        throw BrokenBarrierError("the barrier was aborted while this task waited to enter it");
    }
    // Released (or reset/aborted) while inside: the state now decides, as in asyncio.
    const bool failed = primitive_.state_ == Barrier::State::broken || primitive_.state_ == Barrier::State::resetting;
    node_.counted = false;
    primitive_.leave();
    if (task.cancel_pending()) throw_cancelled(task);
    if (failed)
        throw BrokenBarrierError("the barrier was reset or aborted while this task waited on it; the "
                                 "other tasks did not all arrive");
    return node_.index;
}

} // namespace aio
