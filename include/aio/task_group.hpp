// aio::TaskGroup and aio::task_group — structured concurrency (asyncio.TaskGroup).
#pragma once

#include <aio/detail/awaitable.hpp>
#include <aio/detail/promise_base.hpp>
#include <aio/errors.hpp>
#include <aio/event_loop.hpp>
#include <aio/run.hpp>
#include <aio/task.hpp>

#include <concepts>
#include <coroutine>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace aio {

/// A group of child tasks that finish together, as asyncio.TaskGroup. Prefer the scoped form,
/// which always joins, whatever leaves the body (a return, an exception, a cancellation):
///
///     co_await aio::task_group([&](aio::TaskGroup& tg) -> aio::Task<> {
///         tg.create_task(a());
///         tg.create_task(b());
///         co_await something();
///     });                     // every child has finished here
///
/// The plain form needs a `co_await tg.join()` on every path:
///
///     aio::TaskGroup tg;
///     tg.create_task(a());
///     co_await tg.join();     // waits for every child
///
/// The first child that fails (with anything but cancellation) cancels the others; join()
/// then throws aio::ExceptionGroup holding every child's exception (a child's own
/// ExceptionGroup nests). Cancelling a task in join() cancels the children, waits for them, and
/// throws CancelledError with the cancel message (an ExceptionGroup instead if a child failed;
/// the cancellation is then still pending and raised at the task's next suspension point, as
/// Python 3.13). Several tasks may await join(); each gets the outcome.
///
/// Destroying a group whose children still run (its owner left before join(), by an exception
/// or a cancellation) cancels them but cannot wait for them: they may run after the scope that
/// owned the group is gone and touch its dead locals. That is reported through the loop's
/// exception handler ("TaskGroup destroyed while ... still running"); aio::task_group() makes it
/// impossible. Use from tasks of one loop.
class TaskGroup {
public:
    TaskGroup() = default;
    TaskGroup(const TaskGroup&) = delete;
    TaskGroup& operator=(const TaskGroup&) = delete;
    ~TaskGroup() {
        if (running_ > 0 &&
            !(loop_ && &detail::LoopAccess::core(*loop_) == detail::tls_closing_core)) // a closing loop reports its tasks
            report(fmt::format("TaskGroup destroyed while {} child task(s) were still running: "
                               "they are cancelled "
                               "but nothing waits for them, so they may run after the scope that "
                               "owned the group "
                               "is gone; co_await tg.join() on every path, or use "
                               "aio::task_group(), which always "
                               "joins",
                               running_),
                   nullptr);
        while (children_) {
            Child* child = children_;
            unlink(*child);
            child->unlink();
            if (!child->task.done())
                child->task.cancel("the TaskGroup was destroyed");
            delete child;
        }
        while (joiners_)
            std::exchange(joiners_, joiners_->next_)->orphan();
        // Errors that no join() delivered must not vanish.
        if (!errors_delivered_)
            for (const std::exception_ptr& error : errors_)
                report("TaskGroup destroyed before join() delivered a child's exception", error);
    }

    /// Starts `task` (or any awaitable, as a task that awaits it) as a child on the running loop
    /// and returns it. Throws aio::RuntimeError when the group is shutting down after a failure,
    /// is finished (join() returned), or belongs to another loop than the running one, or when
    /// `task` is a task of another loop.
    template <class T>
    ScheduledTask<T> create_task(Task<T> task, std::string name = {}) {
        if (finished_)
            throw RuntimeError("TaskGroup is finished: join() has returned; create a new TaskGroup "
                               "for more tasks");
        if (aborting_)
            throw RuntimeError(
                "TaskGroup is shutting down: a child failed and the others are being cancelled");
        EventLoop& loop = get_running_loop();
        if (!loop_)
            loop_ = &loop;
        else if (loop_ != &loop)
            throw RuntimeError("TaskGroup of " + detail::loop_name(loop_) +
                               " used from a task of a different event loop (" +
                               detail::loop_name(&loop) + "); create one group per loop");
        detail::check_task_loop(detail::frame_of(detail::TaskAccess::frame(task), "TaskGroup::create_task()"));
        ScheduledTask<T> child_task = loop.create_task(std::move(task), std::move(name));
        auto* child = new Child(this, TaskRef(child_task));
        detail::TaskAccess::frame(child_task)->add_waiter(*child);
        child->prev = last_child_; // creation order, so cancellation goes oldest first
        (last_child_ ? last_child_->next : children_) = child;
        last_child_ = child;
        ++running_;
        return child_task;
    }

    template <class A>
    requires(detail::Awaitable<A> &&
             !std::is_base_of_v<TaskRef, std::remove_cvref_t<A>>) auto create_task(A&& awaitable,
                                                                                   std::string
                                                                                       name = {}) {
        return create_task(detail::to_task(std::forward<A>(awaitable)), std::move(name));
    }

    /// Waits for every child, including ones started while waiting. Throws
    /// aio::ExceptionGroup if any child failed, CancelledError if the joining task was
    /// cancelled (the children are cancelled and awaited first). A Task, so it composes:
    /// `co_await aio::wait_for(tg.join(), 5s)`.
    template <class = void> // a template: only compiled where used (see finish)
    Task<> join() {
        return finish(nullptr);
    }

    /// Children still running.
    std::size_t size() const noexcept { return running_; }

private:
    template <class F>
    requires std::invocable<F&, TaskGroup&>
    friend auto task_group(F body);

    struct Child : detail::Waiter {
        Child(TaskGroup* g, TaskRef t) : group(g), task(std::move(t)) { on_done = &child_done; }
        TaskGroup* group;
        TaskRef task;
        Child* prev = nullptr;
        Child* next = nullptr;
    };

    /// Suspends a task until every child has finished. Cancelling the task cancels the children
    /// and keeps waiting; the awaiter remembers it, and never throws itself.
    class JoinAwaiter {
    public:
        explicit JoinAwaiter(TaskGroup& group) noexcept : group_(&group) {}
        JoinAwaiter(const JoinAwaiter&) = delete;
        JoinAwaiter& operator=(const JoinAwaiter&) = delete;
        ~JoinAwaiter() { unlink(); }

        bool await_ready() const noexcept { return group_->running_ == 0; }

        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            task_ = &detail::running_task(h);
            if (task_->cancel_pending()) {
                task_->clear_pending_cancel();
                on_cancel(task_->cancel_message());
            }
            if (group_->running_ == 0)
                return false;
            next_ = group_->joiners_;
            if (next_)
                next_->prev_ = this;
            group_->joiners_ = this;
            task_->park(h, detail::WaitRef::to(*this));
            return true;
        }

        /// True when the waiting task was cancelled meanwhile (with that message).
        std::optional<std::string> await_resume() {
            if (!group_)
                throw RuntimeError(
                    "the TaskGroup was destroyed while this task was in its join(); keep a group "
                    "alive until every join() has returned");
            return std::move(cancelled_);
        }

    private:
        friend class TaskGroup;
        friend class detail::WaitRef;

        bool on_cancel(const std::string& message) {
            if (!cancelled_)
                cancelled_ = message;
            if (!group_->aborting_)
                group_->abort(message);
            return true; // woken when the last child has finished
        }
        void detach() noexcept { unlink(); }

        void unlink() noexcept {
            if (!group_)
                return;
            (prev_ ? prev_->next_ : group_->joiners_) = next_;
            if (next_)
                next_->prev_ = prev_;
            prev_ = next_ = nullptr;
        }
        void wake() {
            task_->wake();
        }
        void orphan() {
            group_ = nullptr;
            prev_ = next_ = nullptr;
            wake();
        }

        TaskGroup* group_;
        detail::PromiseBase* task_ = nullptr;
        JoinAwaiter* prev_ = nullptr;
        JoinAwaiter* next_ = nullptr;
        std::optional<std::string> cancelled_;
    };

    // Waits for every child, then throws what asyncio's TaskGroup.__aexit__ would: an
    // ExceptionGroup of the children's errors (and `body_error`, unless it is a cancellation),
    // else the cancellation of the joining task, if any. join() is finish(nullptr).
    // A template so that only a unit that joins a group compiles it (g++ emits every
    // non-template inline coroutine).
    template <class = void>
    Task<> finish(std::exception_ptr body_error) {
        detail::PromiseBase& parent = *detail::tls_running_core->current_task();
        bool body_cancelled = false;
        if (body_error) {
            try {
                std::rethrow_exception(body_error);
            } catch (const CancelledError&) {
                body_cancelled = true;
            } catch (...) {
            }
            if (!aborting_)
                abort({});
        }
        std::exception_ptr propagate = body_cancelled ? body_error : nullptr;
        if (std::optional<std::string> message = co_await JoinAwaiter(*this))
            propagate = std::make_exception_ptr(CancelledError(*message));
        finished_ = true;
        if (&parent == cancelled_parent_) { // the cancellation this group sent on a child's failure
            cancelled_parent_ = nullptr;
            if (parent.uncancel() == 0)
                propagate = nullptr;
        }
        std::vector<std::exception_ptr> errors = errors_;
        errors_delivered_ = true;
        if (body_error && !body_cancelled)
            errors.push_back(body_error);
        if (!errors.empty()) {
            // Errors win, but an outside cancellation is not lost: it stays pending and is raised
            // at the task's next suspension point (Python 3.13, gh-116720).
            if (parent.cancelling() > 0)
                parent.must_cancel_ |= detail::PromiseBase::cancel_requested;
            const std::size_t n = errors.size();
            throw ExceptionGroup("unhandled errors in a TaskGroup (" + std::to_string(n) +
                                     " sub-exception" + (n == 1 ? ")" : "s)"),
                                 std::move(errors));
        }
        if (propagate)
            std::rethrow_exception(propagate);
        parent.throw_if_cancelled(); // cancelled after the last child finished, before it ran
    }

    static void child_done(detail::Waiter* waiter) {
        auto* child = static_cast<Child*>(waiter);
        TaskGroup& group = *child->group;
        group.unlink(*child);
        --group.running_;
        detail::PromiseBase& frame = *detail::TaskAccess::frame(child->task);
        if (frame.has_exception() && !frame.is_cancelled()) {
            group.errors_.push_back(frame.take_exception());
            if (!group.aborting_) {
                group.abort({});
                group.cancel_scope_owner();
            }
        }
        delete child;
        if (group.running_ == 0)
            while (group.joiners_) {
                JoinAwaiter* joiner = std::exchange(group.joiners_, group.joiners_->next_);
                joiner->prev_ = joiner->next_ = nullptr;
                joiner->wake();
            }
    }

    // A scoped group (aio::task_group) whose child failed cancels the body, as asyncio does, so
    // that the body stops and the group can report the error; finish() withdraws that
    // cancellation again. Not while the owner already waits in finish().
    void cancel_scope_owner() {
        if (!scope_owner_ || scope_owner_->done())
            return;
        for (JoinAwaiter* j = joiners_; j; j = j->next_)
            if (j->task_ == scope_owner_)
                return;
        cancelled_parent_ = scope_owner_;
        scope_owner_->cancel({});
    }

    void abort(const std::string& message) {
        aborting_ = true;
        for (Child* c = children_; c; c = c->next)
            if (!c->task.done())
                c->task.cancel(message);
    }

    void unlink(Child& child) noexcept {
        (child.prev ? child.prev->next : children_) = child.next;
        (child.next ? child.next->prev : last_child_) = child.prev;
        child.prev = child.next = nullptr;
    }

    static void report(std::string message, std::exception_ptr error) noexcept {
        detail::report_to_current_loop({std::move(message), std::move(error), {}});
    }

    EventLoop* loop_ = nullptr;
    Child* children_ = nullptr; // running children, oldest first
    Child* last_child_ = nullptr;
    std::size_t running_ = 0;
    std::vector<std::exception_ptr> errors_;
    JoinAwaiter* joiners_ = nullptr;
    detail::PromiseBase* scope_owner_ = nullptr;      // the task running aio::task_group's body
    detail::PromiseBase* cancelled_parent_ = nullptr; // scope_owner_, once cancel_scope_owner() ran
    bool aborting_ = false;
    bool finished_ = false;
    bool errors_delivered_ = false;
};

/// Runs `body(tg)` (a callable returning aio::Task<R>) with a new TaskGroup and always waits for
/// every child before it returns, like Python's `async with asyncio.TaskGroup() as tg:`:
///  - the body returns: waits for the children and gives the body's value;
///  - a child fails: the others and the body are cancelled (the body gets CancelledError at its
///    current await), then aio::ExceptionGroup with every child's error; the calling task is
///    not left cancelled;
///  - the body throws: the children are cancelled and awaited, then aio::ExceptionGroup with
///    the body's exception among them;
///  - the calling task is cancelled (in the body or while waiting): the children are cancelled
///    and awaited — their cancellation handlers run while the caller's locals are still alive —
///    then CancelledError.
/// Must be awaited from a task (co_await aio::task_group(...)).
template <class F>
requires std::invocable<F&, TaskGroup&>
auto task_group(F body) {
    using BodyTask = std::invoke_result_t<F&, TaskGroup&>;
    using R = typename BodyTask::value_type;
    static_assert(!std::is_reference_v<R>,
                  "aio::task_group(): the body must return Task<T> with a non-reference T");
    return [](F body) -> Task<R> {
        TaskGroup tg;
        tg.scope_owner_ = detail::tls_running_core->current_task();
        std::exception_ptr body_error;
        std::conditional_t<std::is_void_v<R>, bool, std::optional<R>> result{};
        try {
            if constexpr (std::is_void_v<R>)
                co_await body(tg);
            else
                result.emplace(co_await body(tg));
        } catch (...) {
            body_error = std::current_exception();
        }
        co_await tg.finish(body_error);
        if constexpr (!std::is_void_v<R>)
            co_return std::move(*result);
    }(std::move(body));
}

} // namespace aio
