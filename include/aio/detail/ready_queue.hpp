// aio::detail — the loop's ready queue: a FIFO ring buffer of plain {function, argument}
// pairs. Pushing a task step or a callback never allocates once the buffer has grown to the
// loop's working size, and nothing here is type-erased through std::function.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>

namespace aio::detail {

struct ReadyItem {
    void (*run)(void*);
    void* arg;
};

class ReadyQueue {
public:
    ReadyQueue() : buffer_(std::make_unique<ReadyItem[]>(initial_capacity)), mask_(initial_capacity - 1) {}

    bool empty() const noexcept { return head_ == tail_; }
    std::size_t size() const noexcept { return tail_ - head_; }

    void push(ReadyItem item) {
        if (size() == mask_ + 1) grow();
        buffer_[tail_++ & mask_] = item;
    }

    ReadyItem pop() noexcept { return buffer_[head_++ & mask_]; }

private:
    static constexpr std::size_t initial_capacity = 256;

    void grow() {
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
