// aio::detail — a type-erased, intrusively reference-counted callable: what a Handle, the
// ready queue, fd readers/writers and done callbacks hold. One allocation per callback;
// no std::function.
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

#include <aio/detail/timer_heap.hpp>

namespace aio::detail {

class CallbackNode {
public:
    CallbackNode() = default;
    CallbackNode(const CallbackNode&) = delete;
    CallbackNode& operator=(const CallbackNode&) = delete;

    virtual void invoke() = 0;

    // Single-threaded reference count: nodes never cross threads while shared.
    void add_ref() noexcept { ++refs_; }
    void release() noexcept {
        if (--refs_ == 0) delete this;
    }

    bool cancelled = false;
    // Links the node into one intrusive list at a time (the inbox, a task's done callbacks).
    CallbackNode* next = nullptr;
    // Set while the node sits in a loop's timer heap (which then holds one reference), so
    // Handle::cancel() can take it out.
    TimerHeap* timer_heap = nullptr;
    TimerId timer_id{};

protected:
    virtual ~CallbackNode() = default;

private:
    std::uint32_t refs_ = 1;
};

template <class F>
class CallbackOf final : public CallbackNode {
public:
    template <class G>
    explicit CallbackOf(G&& fn) : fn_(std::forward<G>(fn)) {}
    void invoke() override { fn_(); }

private:
    F fn_;
};

template <class F>
CallbackNode* make_callback(F&& fn) {
    static_assert(std::is_invocable_v<std::decay_t<F>&>, "an aio callback must be callable with no arguments");
    return new CallbackOf<std::decay_t<F>>(std::forward<F>(fn));
}

/// Owns one reference to a CallbackNode.
class CallbackRef {
public:
    CallbackRef() = default;
    explicit CallbackRef(CallbackNode* node) noexcept : node_(node) {} // adopts the reference
    CallbackRef(const CallbackRef& other) noexcept : node_(other.node_) {
        if (node_) node_->add_ref();
    }
    CallbackRef(CallbackRef&& other) noexcept : node_(std::exchange(other.node_, nullptr)) {}
    CallbackRef& operator=(CallbackRef other) noexcept {
        std::swap(node_, other.node_);
        return *this;
    }
    ~CallbackRef() {
        if (node_) node_->release();
    }
    CallbackNode* get() const noexcept { return node_; }
    CallbackNode* release_ownership() noexcept { return std::exchange(node_, nullptr); }
    explicit operator bool() const noexcept { return node_ != nullptr; }

private:
    CallbackNode* node_ = nullptr;
};

} // namespace aio::detail
