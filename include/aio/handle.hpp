// aio::Handle — a callback scheduled with call_soon / call_later / call_at.
#pragma once

#include <aio/detail/callback.hpp>

namespace aio {

/// Refers to a scheduled callback (asyncio.Handle / TimerHandle). Copies refer to the same
/// callback. Only for use on the loop's thread.
class Handle {
public:
    Handle() = default;
    explicit Handle(detail::CallbackRef node) noexcept : node_(std::move(node)) {}

    /// Stops the callback if it has not run yet; a no-op afterwards. A cancelled timer leaves
    /// the timer heap lazily (it is skipped, and purged once stale timers dominate the heap).
    void cancel() noexcept {
        detail::CallbackNode* node = node_.get();
        if (!node || node->cancelled) return;
        node->cancelled = true;
        if (node->timer_heap) {
            if (node->timer_heap->cancel(node->timer_id)) node->release(); // the heap's reference
            node->timer_heap = nullptr;
        }
    }

    /// True once cancel() was called.
    bool cancelled() const noexcept { return node_ && node_.get()->cancelled; }

    /// False for a default-constructed Handle.
    explicit operator bool() const noexcept { return static_cast<bool>(node_); }

private:
    detail::CallbackRef node_;
};

} // namespace aio
