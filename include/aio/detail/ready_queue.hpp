// aio::detail — the loop's ready queue: a FIFO ring buffer of tagged pointers (a task to step,
// or a callback node to run), one machine word each. Pushing never allocates once the buffer
// has grown to the loop's working size, and nothing here is type-erased through std::function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include <aio/config.hpp>

namespace aio::detail {

/// What to run: the kind lives in the low bits of the (8-aligned) pointer.
class ReadyItem {
public:
    enum Kind : std::uintptr_t { task_step = 0, task_first_step = 1, callback = 2 };

    ReadyItem() noexcept = default;
    ReadyItem(Kind kind, const void* target) noexcept : bits_(reinterpret_cast<std::uintptr_t>(target) | kind) {}

    Kind kind() const noexcept { return static_cast<Kind>(bits_ & kind_mask); }
    template <class T>
    T* target() const noexcept {
        return reinterpret_cast<T*>(bits_ & ~kind_mask);
    }

private:
    static constexpr std::uintptr_t kind_mask = 7;
    std::uintptr_t bits_ = 0;
};

class ReadyQueue {
public:
    ReadyQueue() : buffer_(std::make_unique<ReadyItem[]>(initial_capacity)), mask_(initial_capacity - 1) {}

    bool empty() const noexcept { return head_ == tail_; }
    std::size_t size() const noexcept { return tail_ - head_; }

    void push(ReadyItem item) {
        if (AIO_UNLIKELY(size() == mask_ + 1)) grow();
        buffer_[tail_++ & mask_] = item;
    }

    ReadyItem pop() noexcept { return buffer_[head_++ & mask_]; }

private:
    static constexpr std::size_t initial_capacity = 256;

    [[gnu::noinline]] void grow() {
        const std::size_t capacity = mask_ + 1;
        auto bigger = std::make_unique<ReadyItem[]>(capacity * 2);
        for (std::size_t i = 0; i < capacity; ++i) bigger[i] = buffer_[(head_ + i) & mask_];
        buffer_ = std::move(bigger);
        mask_ = capacity * 2 - 1;
        head_ = 0;
        tail_ = capacity;
    }

    std::unique_ptr<ReadyItem[]> buffer_;
    std::size_t mask_;
    std::size_t head_ = 0; // monotonic; wraps through the mask
    std::size_t tail_ = 0;
};

} // namespace aio::detail
