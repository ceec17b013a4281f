// aio::detail — the loop's task registry: the tasks it owns until they finish (pending), and
// finished tasks whose frames handles still keep alive, so that close() can report what was
// lost ("Task was destroyed but it is pending", "Task exception was never retrieved") and cut
// every frame loose from the loop before the loop goes away.
//
// The lists are intrusive (prev_task_ / next_task_ in the frame). The operations are templates
// over the frame type only so that this header needs no frame layout: the loop's internals
// (loop_core.hpp) hold a registry, and task frames (promise_base.hpp) are defined after them.
#pragma once

#include <cstdint>
#include <utility>

namespace aio::detail {

class PromiseBase;

class TaskRegistry {
public:
    /// A new task: the loop owns it (one reference, taken by the caller) until it finishes.
    template <class Frame>
    void add_pending(Frame& task) noexcept {
        task.id_ = ++counter_;
        push_front(pending_, task);
    }

    /// A task finished: it moves to the finished list, where it stays while handles keep its
    /// frame alive.
    template <class Frame>
    void move_to_finished(Frame& task) noexcept {
        unlink(pending_, task);
        push_front(finished_, task);
    }

    /// A finished task's frame is being destroyed.
    template <class Frame>
    void forget_finished(Frame& task) noexcept {
        unlink(finished_, task);
    }

    bool has_pending() const noexcept { return pending_ != nullptr; }

    template <class F, class Frame = PromiseBase>
    void for_each_pending(F&& fn) const {
        for (Frame* t = pending_; t; t = t->next_task_)
            fn(*t);
    }

    /// close(): takes both lists; the caller reports and cuts loose every frame on them.
    PromiseBase* take_pending() noexcept { return std::exchange(pending_, nullptr); }
    PromiseBase* take_finished() noexcept { return std::exchange(finished_, nullptr); }

    /// While aio::run shuts down, tasks that fail with something other than cancellation are
    /// reported as they finish.
    bool report_failures = false;

private:
    template <class Frame>
    static Frame* as(PromiseBase* frame) noexcept {
        return static_cast<Frame*>(frame);
    }
    template <class Frame>
    static void push_front(PromiseBase*& list, Frame& task) noexcept {
        task.next_task_ = list;
        if (list)
            as<Frame>(list)->prev_task_ = &task;
        list = &task;
    }
    template <class Frame>
    static void unlink(PromiseBase*& list, Frame& task) noexcept {
        if (task.prev_task_)
            task.prev_task_->next_task_ = task.next_task_;
        else
            list = task.next_task_;
        if (task.next_task_)
            task.next_task_->prev_task_ = task.prev_task_;
        task.prev_task_ = task.next_task_ = nullptr;
    }

    PromiseBase* pending_ = nullptr;  // newest first
    PromiseBase* finished_ = nullptr; // finished tasks whose frames are still alive
    std::uint64_t counter_ = 0;
};

} // namespace aio::detail
