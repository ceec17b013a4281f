// aio::detail — waiting on a set of tasks from one task: the machinery under gather, wait,
// wait_for, as_completed and shield.
//
// A TaskSet links one Waiter node into each task it watches and records the order in which
// they finish. A TaskSetAwaiter suspends the awaiting task until a condition on the set holds
// (all done, any done, any failed...), optionally racing a deadline, and decides what
// cancelling the awaiter does: detach (the tasks keep running) or pass the cancellation on to
// every unfinished task and wake only once they have all finished.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <aio/detail/promise_base.hpp>
#include <aio/detail/timer_heap.hpp>
#include <aio/errors.hpp>
#include <aio/event_loop.hpp>
#include <aio/run.hpp>
#include <aio/task.hpp>

namespace aio::detail {

/// Makes `task` a task of the running loop if it is a lazy coroutine that has not started
/// (what asyncio.ensure_future does with a coroutine). Throws aio::RuntimeError for a coroutine
/// already running inline in another task, or a task of another loop.
template <class T>
Task<T> ensure_task(Task<T> task) {
    PromiseBase& frame = frame_of(TaskAccess::frame(task), "aio combinator");
    check_task_loop(frame);
    if (frame.is_task() || frame.done()) return task;
    if (frame.started())
        throw RuntimeError("this coroutine is already being awaited inline by another task; pass a "
                           "Task made by aio::create_task() instead");
    return get_running_loop().create_task(std::move(task));
}

/// ensure_task at once when a loop is running, so the tasks start as soon as possible (as
/// asyncio's functions do); otherwise the combinator's coroutine does it when it starts.
template <class T>
void schedule_if_running(Task<T>& task) {
    if (tls_running_loop && task.valid()) task = ensure_task(std::move(task));
}

/// A combinator's own Task must start even if it is cancelled before its first step, so that
/// the cancellation reaches the tasks it has already started.
template <class T>
Task<T> runs_when_cancelled(Task<T> task) noexcept {
    TaskAccess::frame(task)->runs_when_cancelled_ = true;
    return task;
}

enum class WakeWhen : std::uint8_t {
    all_done,    // every task finished
    any_done,    // at least one finished
    any_failed,  // one raised or was cancelled, or all finished (gather)
    any_raised,  // one raised something other than cancellation, or all finished (FIRST_EXCEPTION)
    more_than,   // more than `count` finished (as_completed)
};

/// What cancelling the awaiting task does.
enum class OnCancel : std::uint8_t {
    detach,                   // stop waiting at once; the tasks keep running
    cancel_tasks_and_wait,    // cancel every unfinished task, wake when all have finished
};

/// What the deadline does.
enum class OnDeadline : std::uint8_t {
    wake,                   // stop waiting: the outcome is timed_out
    cancel_tasks_and_wait,  // cancel every unfinished task, wake when all have finished
};

struct SetWaitSpec {
    WakeWhen when = WakeWhen::all_done;
    std::size_t count = 0;
    std::optional<std::int64_t> deadline_ns; // on the loop's clock
    OnDeadline on_deadline = OnDeadline::wake;
    OnCancel on_cancel = OnCancel::detach;
};

enum class SetWaitOutcome : std::uint8_t { ready, timed_out };

class TaskSetAwaiter;

class TaskSet {
public:
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    /// Every element must be a task (ensure_task) or already done. Duplicates are the caller's
    /// business. Tasks already done count as finished first, in the order given.
    explicit TaskSet(std::vector<TaskRef> tasks)
        : tasks_(std::move(tasks)), nodes_(std::make_unique<Node[]>(tasks_.size())) {
        order_.reserve(tasks_.size());
        for (std::size_t i = 0; i < tasks_.size(); ++i) {
            PromiseBase& frame = *TaskAccess::frame(tasks_[i]);
            if (frame.done()) {
                record(i);
                continue;
            }
            nodes_[i].on_done = &on_task_done;
            nodes_[i].set = this;
            nodes_[i].index = i;
            frame.add_waiter(nodes_[i]);
        }
    }
    TaskSet(const TaskSet&) = delete;
    TaskSet& operator=(const TaskSet&) = delete;
    ~TaskSet() {
        for (std::size_t i = 0; i < tasks_.size(); ++i) nodes_[i].unlink();
    }

    std::size_t size() const noexcept { return tasks_.size(); }
    std::size_t finished() const noexcept { return order_.size(); }
    /// Index (in the order given) of the k-th task to finish.
    std::size_t finished_at(std::size_t k) const noexcept { return order_[k]; }
    const std::vector<std::size_t>& finish_order() const noexcept { return order_; }
    const TaskRef& task(std::size_t i) const noexcept { return tasks_[i]; }
    /// First task to finish by raising or being cancelled, or npos.
    std::size_t first_failure() const noexcept { return first_failure_; }
    bool any_raised() const noexcept { return any_raised_; }

    /// Cancels every task not finished yet.
    void cancel_unfinished(const std::string& message) {
        for (std::size_t i = 0; i < tasks_.size(); ++i) {
            PromiseBase& frame = *TaskAccess::frame(tasks_[i]);
            if (!frame.done()) frame.cancel(message);
        }
    }

    bool satisfied(WakeWhen when, std::size_t count) const noexcept {
        const bool all = finished() == size();
        switch (when) {
        case WakeWhen::all_done:
            return all;
        case WakeWhen::any_done:
            return finished() > 0;
        case WakeWhen::any_failed:
            return all || first_failure_ != npos;
        case WakeWhen::any_raised:
            return all || any_raised_;
        case WakeWhen::more_than:
            return finished() > count;
        }
        return all;
    }

    inline TaskSetAwaiter wait(SetWaitSpec spec);

private:
    friend class TaskSetAwaiter;
    struct Node : Waiter {
        TaskSet* set = nullptr;
        std::size_t index = 0;
    };

    void record(std::size_t i) noexcept {
        order_.push_back(i); // reserved: never reallocates
        PromiseBase& frame = *TaskAccess::frame(tasks_[i]);
        if (frame.has_exception()) {
            if (first_failure_ == npos) first_failure_ = i;
            if (!frame.is_cancelled()) any_raised_ = true;
        }
    }

    static inline void on_task_done(Waiter* waiter);

    std::vector<TaskRef> tasks_;
    std::unique_ptr<Node[]> nodes_;
    std::vector<std::size_t> order_;
    std::size_t first_failure_ = npos;
    bool any_raised_ = false;
    TaskSetAwaiter* waiting_ = nullptr; // awaiters suspended on this set (as_completed may have several)
};

class [[nodiscard]] TaskSetAwaiter {
public:
    TaskSetAwaiter(TaskSet& set, SetWaitSpec spec) noexcept : set_(set), spec_(spec) {}
    TaskSetAwaiter(const TaskSetAwaiter&) = delete;
    TaskSetAwaiter& operator=(const TaskSetAwaiter&) = delete;
    ~TaskSetAwaiter() { disarm(); }

    bool await_ready() const noexcept { return false; }

    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        task_ = &running_task(h);
        LoopCore& loop = *task_->loop_;
        if (task_->cancel_pending()) {
            if (spec_.on_cancel == OnCancel::detach) return false; // await_resume throws
            task_->clear_pending_cancel();
            begin_cancelling(task_->cancel_message());
        }
        if (satisfied()) return false; // e.g. everything already finished: no timeout
        if (spec_.deadline_ns && *spec_.deadline_ns <= loop.now_ns()) deadline_passed();
        if (satisfied()) return false;
        if (spec_.deadline_ns && !deadline_handled_)
            timer_ = loop.timers().schedule(*spec_.deadline_ns, &fire, this);
        link();
        task_->park(h, WaitRef::to(*this));
        return true;
    }

    /// Throws CancelledError when the awaiting task was cancelled.
    SetWaitOutcome await_resume() {
        if (cancel_requested_) throw CancelledError(cancel_message_);
        task_->throw_if_cancelled();
        return timed_out_ ? SetWaitOutcome::timed_out : SetWaitOutcome::ready;
    }

    /// Called by the set when one of its tasks finishes.
    void task_finished() {
        if (satisfied()) wake();
    }

private:
    friend class WaitRef;

    bool satisfied() const noexcept {
        if (cancel_requested_ || (timed_out_ && spec_.on_deadline == OnDeadline::cancel_tasks_and_wait))
            return set_.finished() == set_.size();
        if (timed_out_) return true;
        return set_.satisfied(spec_.when, spec_.count);
    }

    void begin_cancelling(const std::string& message) {
        cancel_requested_ = true;
        cancel_message_ = message;
        set_.cancel_unfinished(message);
    }

    void deadline_passed() {
        deadline_handled_ = true;
        timed_out_ = true;
        if (spec_.on_deadline == OnDeadline::cancel_tasks_and_wait) set_.cancel_unfinished({});
    }

    static void fire(void* arg) {
        auto* self = static_cast<TaskSetAwaiter*>(arg);
        self->timer_ = {};
        self->deadline_passed();
        if (self->satisfied()) self->wake();
    }

    void link() noexcept {
        next_waiting_ = set_.waiting_;
        if (next_waiting_) next_waiting_->prev_waiting_ = this;
        prev_waiting_ = nullptr;
        set_.waiting_ = this;
        linked_ = true;
    }

    void unlink() noexcept {
        if (!linked_) return;
        if (prev_waiting_) prev_waiting_->next_waiting_ = next_waiting_;
        else
            set_.waiting_ = next_waiting_;
        if (next_waiting_) next_waiting_->prev_waiting_ = prev_waiting_;
        prev_waiting_ = next_waiting_ = nullptr;
        linked_ = false;
    }

    void disarm() noexcept {
        if (timer_) {
            if (task_ && task_->loop_) task_->loop_->timers().cancel(timer_);
            timer_ = {};
        }
        unlink();
    }

    void wake() {
        disarm();
        task_->wake();
    }

    bool on_cancel(const std::string& message) {
        if (spec_.on_cancel == OnCancel::detach) {
            disarm();
            return false;
        }
        if (timer_) {
            task_->loop_->timers().cancel(timer_);
            timer_ = {};
        }
        begin_cancelling(message);
        if (!satisfied()) return true; // woken once every task has finished
        disarm();
        task_->clear_pending_cancel(); // await_resume throws the CancelledError itself
        task_->wake();
        return true;
    }
    void detach() noexcept { disarm(); }

    TaskSet& set_;
    SetWaitSpec spec_;
    PromiseBase* task_ = nullptr;
    TimerId timer_{};
    bool timed_out_ = false;
    bool deadline_handled_ = false;
    bool cancel_requested_ = false;
    bool linked_ = false;
    TaskSetAwaiter* prev_waiting_ = nullptr;
    TaskSetAwaiter* next_waiting_ = nullptr;
    std::string cancel_message_;

    friend class TaskSet;
};

inline TaskSetAwaiter TaskSet::wait(SetWaitSpec spec) { return TaskSetAwaiter(*this, spec); }

inline void TaskSet::on_task_done(Waiter* waiter) {
    auto* node = static_cast<Node*>(waiter);
    TaskSet& set = *node->set;
    set.record(node->index);
    for (TaskSetAwaiter* awaiter = set.waiting_; awaiter;) {
        TaskSetAwaiter* next = awaiter->next_waiting_; // task_finished may unlink awaiter
        awaiter->task_finished();
        awaiter = next;
    }
}

/// The value a finished task gives a combinator: copied when it can be (the caller may
/// still hold the task), moved otherwise; rethrows the task's exception.
template <class T>
decltype(auto) take_result(Task<T>& task) {
    if constexpr (std::is_void_v<T> || std::is_reference_v<T> || std::is_copy_constructible_v<T>)
        return task.result();
    else
        return std::move(task).result();
}

/// Tasks gathered or waited on have their exceptions delivered through the combinator, so a
/// failure is not also reported as "never retrieved" (asyncio's gather does the same).
inline void mark_retrieved(const TaskRef& task) noexcept { TaskAccess::frame(task)->exception_retrieved_ = true; }

} // namespace aio::detail
