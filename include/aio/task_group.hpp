// aio::TaskGroup — structured concurrency (asyncio.TaskGroup).
#pragma once

#include <coroutine>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include <aio/detail/promise_base.hpp>
#include <aio/errors.hpp>
#include <aio/event_loop.hpp>
#include <aio/run.hpp>
#include <aio/task.hpp>

namespace aio {

/// A group of child tasks that finish together, as asyncio.TaskGroup:
///
///     aio::TaskGroup tg;
///     tg.create_task(a());
///     tg.create_task(b());
///     co_await tg.join();   // waits for every child
///
/// The first child that fails (with anything but cancellation) cancels the others; join()
/// then throws aio::ExceptionGroup holding every child's exception (a child's own
/// ExceptionGroup nests). Cancelling the task in join() cancels the children, waits for them,
/// and throws CancelledError with the cancel message (an ExceptionGroup instead if a child
/// failed). Unlike asyncio, a failing child does not also cancel the parent's code before
/// join(): C++ has no `async with` block to catch that cancellation, so errors surface at join().
/// Destroying a group cancels the children still running (they finish on their own).
/// Use from tasks of one loop.
class TaskGroup {
public:
    TaskGroup() = default;
    TaskGroup(const TaskGroup&) = delete;
    TaskGroup& operator=(const TaskGroup&) = delete;
    ~TaskGroup() {
        while (children_) {
            Child* child = children_;
            unlink(*child);
            child->unlink();
            if (!child->task.done()) child->task.cancel("the TaskGroup was destroyed");
            delete child;
        }
        // Errors that no join() delivered must not vanish.
        for (const std::exception_ptr& error : errors_) {
            ExceptionContext context{"TaskGroup destroyed before join() delivered a child's exception", error, {}};
            if (loop_ && loop_ == detail::tls_running_loop)
                loop_->call_exception_handler(context);
            else
                EventLoop::default_exception_handler(context);
        }
    }

    /// Starts `task` as a child (on the running loop) and returns it. Throws aio::RuntimeError
    /// when the group is shutting down after a failure, or finished (join() returned).
    template <class T>
    ScheduledTask<T> create_task(Task<T> task, std::string name = {}) {
        if (finished_)
            throw RuntimeError("TaskGroup is finished: join() has returned; create a new TaskGroup for more tasks");
        if (aborting_)
            throw RuntimeError("TaskGroup is shutting down: a child failed and the others are being cancelled");
        EventLoop& loop = get_running_loop();
        if (!loop_) loop_ = &loop;
        else if (loop_ != &loop)
            throw RuntimeError("TaskGroup used from a task of a different event loop");
        ScheduledTask<T> child_task = loop.create_task(std::move(task), std::move(name));
        auto* child = new Child(this, TaskRef(child_task));
        child_task.frame_pointer()->add_waiter(*child);
        child->prev = last_child_; // creation order, so cancellation goes oldest first
        (last_child_ ? last_child_->next : children_) = child;
        last_child_ = child;
        ++running_;
        return child_task;
    }

    /// Waits for every child, including ones started while waiting. Throws
    /// aio::ExceptionGroup if any child failed, CancelledError if the joining task was
    /// cancelled (the children are cancelled and awaited first). A Task, so it composes:
    /// `co_await aio::wait_for(tg.join(), 5s)`.
    Task<> join() { co_await JoinAwaiter(*this); }

    /// Children still running.
    std::size_t size() const noexcept { return running_; }

private:
    struct Child : detail::Waiter {
        Child(TaskGroup* g, TaskRef t) : group(g), task(std::move(t)) { on_done = &child_done; }
        TaskGroup* group;
        TaskRef task;
        Child* prev = nullptr;
        Child* next = nullptr;
    };

    class JoinAwaiter {
    public:
        explicit JoinAwaiter(TaskGroup& group) noexcept : group_(group) {}
        JoinAwaiter(const JoinAwaiter&) = delete;
        JoinAwaiter& operator=(const JoinAwaiter&) = delete;
        ~JoinAwaiter() {
            if (group_.joiner_ == this) group_.joiner_ = nullptr;
        }

        bool await_ready() const noexcept { return false; }

        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            task_ = &detail::running_task(h);
            if (task_->cancel_pending()) {
                task_->clear_pending_cancel();
                begin_cancelling(task_->cancel_message());
            }
            if (group_.running_ == 0) return false;
            group_.joiner_ = this;
            task_->wait_ = detail::WaitRef::to(*this);
            task_->resume_point_ = h;
            return true;
        }

        void await_resume() {
            group_.finished_ = true;
            if (!group_.errors_.empty()) {
                const std::size_t n = group_.errors_.size();
                std::string message = "unhandled errors in a TaskGroup (" + std::to_string(n) + " sub-exception" +
                                      (n == 1 ? ")" : "s)");
                throw ExceptionGroup(message, std::move(group_.errors_));
            }
            if (cancelled_) throw CancelledError(cancel_message_);
            task_->throw_if_cancelled();
        }

        void all_children_done() {
            group_.joiner_ = nullptr;
            task_->wait_ = {};
            task_->loop_->schedule(*task_);
        }

    private:
        friend class detail::WaitRef;

        void begin_cancelling(const std::string& message) {
            cancelled_ = true;
            cancel_message_ = message;
            group_.abort(message);
        }
        bool on_cancel(const std::string& message) {
            begin_cancelling(message);
            return true; // woken when the last child has finished
        }
        void detach() noexcept { group_.joiner_ = nullptr; }

        TaskGroup& group_;
        detail::PromiseBase* task_ = nullptr;
        bool cancelled_ = false;
        std::string cancel_message_;
    };

    static void child_done(detail::Waiter* waiter) {
        auto* child = static_cast<Child*>(waiter);
        TaskGroup& group = *child->group;
        group.unlink(*child);
        --group.running_;
        detail::PromiseBase& frame = *child->task.frame_pointer();
        if (frame.has_exception() && !frame.is_cancelled()) {
            group.errors_.push_back(frame.take_exception());
            if (!group.aborting_) group.abort({});
        }
        delete child;
        if (group.running_ == 0 && group.joiner_) group.joiner_->all_children_done();
    }

    void abort(const std::string& message) {
        aborting_ = true;
        for (Child* c = children_; c; c = c->next)
            if (!c->task.done()) c->task.cancel(message);
    }

    void unlink(Child& child) noexcept {
        (child.prev ? child.prev->next : children_) = child.next;
        (child.next ? child.next->prev : last_child_) = child.prev;
        child.prev = child.next = nullptr;
    }

    EventLoop* loop_ = nullptr;
    Child* children_ = nullptr; // running children, oldest first
    Child* last_child_ = nullptr;
    std::size_t running_ = 0;
    std::vector<std::exception_ptr> errors_;
    JoinAwaiter* joiner_ = nullptr;
    bool aborting_ = false;
    bool finished_ = false;

};

} // namespace aio
