// aio::detail — a wait for a state change of a counted object (a stream closing, a server
// closing): the awaiter holds a reference, so the object outlives the wait, and a WaitNode in
// the object's list, woken when the state changes. Movable until awaited.
#pragma once

#include <aio/detail/promise_base.hpp>
#include <aio/detail/waiter_list.hpp>

#include <coroutine>
#include <string>

namespace aio::detail {

/// `Owner` has add_ref() / release(); `done(owner)` says whether to return at once, and
/// `after(owner)` (optional) runs when the wait ends without cancellation (it may throw the
/// owner's error).
template <class Owner>
class [[nodiscard]] OwnedWait {
public:
    using Done = bool (*)(const Owner&);
    using After = void (*)(const Owner&);

    OwnedWait(Owner& owner, WaitList& list, Done done, After after, const char* what) noexcept
        : owner_(owner), list_(list), done_(done), after_(after), what_(what) {
        owner_.add_ref();
    }
    OwnedWait(OwnedWait&& other) noexcept
        : OwnedWait(other.owner_, other.list_, other.done_, other.after_, other.what_) {}
    OwnedWait(const OwnedWait&) = delete;
    OwnedWait& operator=(const OwnedWait&) = delete;
    ~OwnedWait() {
        unlink_detached(node_);
        owner_.release();
    }

    bool await_ready() const { return done_(owner_); }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        return suspend_in(list_, node_, *this, binding_, what_, h);
    }
    void await_resume() {
        if (node_.task && node_.state != WaitState::woken)
            throw_cancelled(*node_.task);
        if (after_)
            after_(owner_);
    }
    bool on_cancel(const std::string&) noexcept { return unlink_cancelled(node_); }
    void detach() noexcept { unlink_detached(node_); }

private:
    Owner& owner_;
    WaitList& list_;
    Done done_;
    After after_;
    const char* what_;
    WaitNode node_;
    LoopBinding binding_;
};

} // namespace aio::detail
