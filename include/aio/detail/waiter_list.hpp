// aio::detail — what the synchronisation primitives and queues share (lock.hpp, event.hpp,
// condition.hpp, semaphore.hpp, barrier.hpp, queue.hpp): an intrusive FIFO list of waiting
// tasks, the binding of a primitive to one event loop, and the scoped-release guard.
//
// A waiting task is a WaitNode that lives in the awaiter, i.e. in the waiting coroutine's
// frame, so waiting never allocates. Every primitive follows the same protocol (see
// promise_base.hpp for how an awaiter suspends a task):
//
//   await_ready():    the fast path — take the lock / permit / item at once if nobody waits.
//   await_suspend(h): bind the primitive to the task's loop, deliver a pending cancellation
//                     without waiting, else link the node at the back of the list.
//   wake:             the primitive unlinks the node at the front, marks it `woken` and
//                     schedules its task. What the wake-up hands over (the lock, a permit, a
//                     claim on an item or a slot) belongs to that awaiter from then on.
//   on_cancel():      a linked node unlinks itself and owns nothing: CancelledError follows.
//   await_resume():   a woken node whose task was cancelled before it could run hands what it
//                     was given on to the next waiter (CPython's lock/cancel race, bpo-32734),
//                     so a wake-up is never lost and nothing ever has two owners.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include <aio/config.hpp>
#include <aio/detail/promise_base.hpp>
#include <aio/errors.hpp>

namespace aio::detail {

class WaitList;

enum class WaitState : std::uint8_t {
    idle,      // never linked: the fast path, or a cancellation delivered before waiting
    waiting,   // linked in a WaitList; the task is suspended
    woken,     // unlinked and scheduled by the primitive: what was handed over is the awaiter's
    cancelled, // unlinked by cancellation: owns nothing
    orphaned,  // the primitive was destroyed while the node waited on it
};

/// One waiting task. Primitives that need more per waiter derive from it.
struct WaitNode {
    WaitNode* prev = nullptr;
    WaitNode* next = nullptr;
    WaitList* list = nullptr;    // the list it is linked in, while linked
    PromiseBase* task = nullptr; // the waiting task, set by await_suspend
    WaitState state = WaitState::idle;

    bool linked() const noexcept { return list != nullptr; }
};

/// An intrusive doubly linked FIFO of WaitNodes. Destroying it with nodes still linked
/// orphans them: their tasks keep waiting until cancelled, and the awaiters then touch
/// nothing of the primitive that is gone.
class WaitList {
public:
    WaitList() noexcept = default;
    WaitList(const WaitList&) = delete;
    WaitList& operator=(const WaitList&) = delete;
    ~WaitList() {
        for (WaitNode* node = head_; node;) {
            WaitNode* next = node->next;
            node->prev = node->next = nullptr;
            node->list = nullptr;
            node->state = WaitState::orphaned;
            node = next;
        }
    }

    bool empty() const noexcept { return head_ == nullptr; }
    WaitNode* front() const noexcept { return head_; }

    void push_back(WaitNode& node) noexcept {
        node.list = this;
        node.state = WaitState::waiting;
        node.next = nullptr;
        node.prev = tail_;
        if (tail_) tail_->next = &node;
        else
            head_ = &node;
        tail_ = &node;
    }

    void remove(WaitNode& node) noexcept {
        if (node.prev) node.prev->next = node.next;
        else
            head_ = node.next;
        if (node.next) node.next->prev = node.prev;
        else
            tail_ = node.prev;
        node.prev = node.next = nullptr;
        node.list = nullptr;
    }

    WaitNode& pop_front() noexcept {
        WaitNode& node = *head_;
        remove(node);
        return node;
    }

private:
    WaitNode* head_ = nullptr;
    WaitNode* tail_ = nullptr;
};

/// Marks an unlinked node woken and schedules its task (exactly once).
inline void wake(WaitNode& node) {
    node.state = WaitState::woken;
    node.task->wake();
}

/// on_cancel() of an awaiter whose wait hands nothing over: a linked node leaves its list and
/// the task gets CancelledError. Returns false (the caller wakes the task).
inline bool unlink_cancelled(WaitNode& node) noexcept {
    if (node.linked()) {
        node.list->remove(node);
        node.state = WaitState::cancelled;
    }
    return false;
}

/// detach() of an awaiter (the loop is closing): leave the list without waking anything.
inline void unlink_detached(WaitNode& node) noexcept {
    if (node.linked()) node.list->remove(node);
}

/// Wakes every node of `list`, oldest first.
inline void wake_all(WaitList& list) {
    while (!list.empty()) wake(list.pop_front());
}

/// Throws the CancelledError pending for `task`; if an uncancel() withdrew it after the wait
/// was already cancelled, throws one anyway: the wait did not complete and must not look
/// as if it had (a Lock must not appear acquired, a get must not return nothing).
[[noreturn]] inline void throw_cancelled(PromiseBase& task) {
    task.throw_if_cancelled();
    throw CancelledError(task.cancel_message());
}

[[noreturn, gnu::noinline, gnu::cold]] inline void throw_wrong_loop(const char* what) {
    throw RuntimeError(std::string(what) +
                       " is bound to a different event loop: it belongs to the loop of the first task "
                       "that waited on it, and may only be used from that loop's tasks; create one per "
                       "loop (and use call_soon_threadsafe() or run_coroutine_threadsafe() to talk to "
                       "another loop)");
}

/// A primitive's event loop: the loop of the first task that waited on it (as asyncio's
/// _LoopBoundMixin). Using it from a task of another loop throws aio::RuntimeError.
class LoopBinding {
public:
    /// Called before a task waits: binds, or checks the binding.
    void bind(LoopCore* loop, const char* what) {
        if (AIO_LIKELY(loop_ == loop)) return;
        if (!loop_) {
            loop_ = loop;
            return;
        }
        throw_wrong_loop(what);
    }
    /// Called first by every mutator: in debug mode, a call from a thread other than the bound
    /// loop's (while it runs) throws aio::RuntimeError before anything changes.
    AIO_ALWAYS_INLINE void check_caller(const char* what) const {
        if (loop_) loop_->check_thread(what);
    }
    /// Called before waking waiters: code running on another loop must not schedule them.
    void check_waker(const char* what) const {
        LoopCore* running = tls_running_core;
        if (AIO_UNLIKELY(running && loop_ && running != loop_)) throw_wrong_loop(what);
    }

private:
    LoopCore* loop_ = nullptr;
};

/// The await_suspend every simple wait shares: binds the primitive to the task's loop, delivers
/// a pending cancellation without waiting, else links `node` at the back of `list`.
template <class Awaiter, class P>
bool suspend_in(WaitList& list, WaitNode& node, Awaiter& awaiter, LoopBinding& binding, const char* what,
                std::coroutine_handle<P> h) {
    PromiseBase& task = running_task(h);
    binding.bind(task.loop_, what);
    node.task = &task;
    if (task.cancel_pending()) return false; // await_resume delivers it, holding nothing
    list.push_back(node);
    task.park(h, WaitRef::to(awaiter));
    return true;
}

/// The base of every awaiter that parks its task in a primitive's WaitList (Lock, Semaphore,
/// Event, Condition, Barrier, Queue put / get / join): the wait node in the awaiting frame, the
/// suspend step (suspend_in), and the cancel / detach steps of a wait that hands nothing over.
/// A derived awaiter writes await_ready (its fast path) and await_resume (what the wake-up
/// handed over), and overrides on_cancel only when a cancelled wait must give something back.
template <class Derived, class Primitive, class Node = WaitNode>
class PrimitiveWait {
public:
    explicit PrimitiveWait(Primitive& primitive) noexcept : primitive_(primitive) {}
    // Movable until awaited (e.g. into aio::wait_for), never after: the node is not linked yet.
    PrimitiveWait(PrimitiveWait&& other) noexcept : primitive_(other.primitive_) {}
    PrimitiveWait(const PrimitiveWait&) = delete;
    PrimitiveWait& operator=(const PrimitiveWait&) = delete;
    // No destructor: the node is never linked when the awaiter goes away (a frame is only
    // destroyed while suspended by EventLoop::close(), which detaches the wait first).

    // The WaitRef operations (promise_base.hpp).
    bool on_cancel(const std::string&) noexcept { return unlink_cancelled(node_); }
    void detach() noexcept { unlink_detached(node_); }

protected:
    /// await_suspend: park the task at the back of `list` (after binding `binding` to its loop;
    /// a pending cancellation is delivered without waiting).
    template <class P>
    bool park_in(WaitList& list, LoopBinding& binding, const char* what, std::coroutine_handle<P> h) {
        return suspend_in(list, node_, static_cast<Derived&>(*this), binding, what, h);
    }
    /// await_resume of a wait that hands nothing over: returns when it completed at once or
    /// was woken; throws CancelledError when it was cancelled, even after the wake-up.
    void resume_plain() const {
        if (!node_.task) return;
        if (node_.state == WaitState::woken && AIO_LIKELY(!node_.task->cancel_pending())) return;
        throw_cancelled(*node_.task);
    }

    Primitive& primitive_;
    Node node_;
};

/// The acquire awaiter of a primitive that hands what release() frees straight to the task
/// that has waited longest (Lock, Semaphore): FIFO-fair, and cancel-safe both ways — a task
/// cancelled while waiting owns nothing, and one cancelled after it was handed the lock or
/// permit but before it ran passes it on (CPython's bpo-32734). The primitive provides
/// try_take() (the fast path), hand_over(), wait_name(), and its waiters_ and loop_.
template <class Primitive>
class [[nodiscard]] HandoffAcquire : public PrimitiveWait<HandoffAcquire<Primitive>, Primitive> {
    using Base = PrimitiveWait<HandoffAcquire<Primitive>, Primitive>;
    using Base::node_;
    using Base::primitive_;

public:
    using Base::Base;

    /// Takes it at once, without suspending, when it is free (then nobody waits).
    AIO_ALWAYS_INLINE bool await_ready() noexcept { return primitive_.try_take(); }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        return this->park_in(primitive_.waiters_, primitive_.loop_, primitive_.wait_name(), h);
    }
    AIO_ALWAYS_INLINE void await_resume() {
        if (!node_.task) return; // taken by await_ready
        if (node_.state == WaitState::woken) {
            if (AIO_LIKELY(!node_.task->cancel_pending())) return; // handed over
            primitive_.hand_over(); // cancelled before it could run: the next waiter gets it
        }
        throw_cancelled(*node_.task);
    }
};

/// What `co_await x.scoped()` returns: releases `x` when it goes out of scope (or, after a
/// move, when the guard it was moved into does).
template <class Primitive>
class [[nodiscard]] ReleaseGuard {
public:
    explicit ReleaseGuard(Primitive& primitive) noexcept : primitive_(&primitive) {}
    ReleaseGuard(ReleaseGuard&& other) noexcept : primitive_(std::exchange(other.primitive_, nullptr)) {}
    ReleaseGuard(const ReleaseGuard&) = delete;
    ReleaseGuard& operator=(const ReleaseGuard&) = delete;
    ReleaseGuard& operator=(ReleaseGuard&&) = delete;
    // Never throws out of the destructor: a release that fails here (the primitive was released
    // by hand, or a loop closing destroys the frame) goes to the exception handler.
    ~ReleaseGuard() {
        if (!primitive_) return;
        try {
            primitive_->release();
        } catch (...) {
            report_ignored_exception("a scoped() guard's release()");
        }
    }

private:
    Primitive* primitive_;
};

/// `co_await x.scoped()`: awaits x's acquire awaiter, then yields a ReleaseGuard.
template <class Primitive, class Acquire>
class [[nodiscard]] ScopedAcquire {
public:
    explicit ScopedAcquire(Primitive& primitive) noexcept : primitive_(primitive), acquire_(primitive) {}
    // Movable until awaited (e.g. into aio::wait_for), never after.
    ScopedAcquire(ScopedAcquire&& other) noexcept
        : primitive_(other.primitive_), acquire_(std::move(other.acquire_)) {}
    ScopedAcquire(const ScopedAcquire&) = delete;
    ScopedAcquire& operator=(const ScopedAcquire&) = delete;

    bool await_ready() { return acquire_.await_ready(); }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        return acquire_.await_suspend(h);
    }
    ReleaseGuard<Primitive> await_resume() {
        acquire_.await_resume();
        return ReleaseGuard<Primitive>(primitive_);
    }

private:
    Primitive& primitive_;
    Acquire acquire_;
};

} // namespace aio::detail
