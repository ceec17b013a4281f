// aio::detail — the loop's ready queue: a FIFO of tagged pointers (a task to step, or a
// callback node to run), one machine word each. Pushing never allocates once the queue has
// grown to the loop's working size, and nothing here is type-erased through std::function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <aio/detail/algorithm.hpp>
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

/// FIFO of ready work, run in batches: the loop takes everything queued so far as one batch
/// (begin_batch) and runs it; what is pushed meanwhile waits for the next batch, which is
/// asyncio's rule that callbacks scheduled while running go to the next iteration. Two vectors
/// swapped per batch make a push an append and a pop an index step.
class ReadyQueue {
public:
    ReadyQueue() : next_(initial_capacity), batch_(initial_capacity) {}

    /// Nothing queued for the next batch.
    bool empty() const noexcept { return next_.size == 0; }
    std::size_t size() const noexcept { return next_.size; }

    AIO_ALWAYS_INLINE void push(ReadyItem item) {
        if (AIO_UNLIKELY(next_.size == next_.capacity)) next_.grow();
        next_.items[next_.size++] = item;
    }

    /// Makes everything queued so far the current batch and returns its size.
    std::size_t begin_batch() noexcept {
        batch_.swap(next_);
        next_.size = 0;
        return batch_.size;
    }
    ReadyItem batch_item(std::size_t i) const noexcept { return batch_.items[i]; }

    /// Empties the queue, handing every item to `drop` (loop teardown).
    template <class Drop>
    void clear(Drop&& drop) {
        for (std::size_t i = 0; i < next_.size; ++i) drop(next_.items[i]);
        next_.size = 0;
        batch_.size = 0;
    }

private:
    static constexpr std::size_t initial_capacity = 256;

    // A plain array (not unique_ptr or vector): the queue is in every program, and at -O0 each
    // standard template it instantiates is compiled into every unit that runs a loop.
    struct Buffer {
        explicit Buffer(std::size_t n) : items(new ReadyItem[n]), capacity(n) {}
        Buffer(const Buffer&) = delete;
        Buffer& operator=(const Buffer&) = delete;
        ~Buffer() { delete[] items; }
        AIO_NOINLINE void grow() {
            ReadyItem* bigger = new ReadyItem[capacity * 2];
            std::copy(items, items + size, bigger);
            delete[] std::exchange(items, bigger);
            capacity *= 2;
        }
        void swap(Buffer& other) noexcept {
            std::swap(items, other.items);
            std::swap(size, other.size);
            std::swap(capacity, other.capacity);
        }
        ReadyItem* items;
        std::size_t size = 0;
        std::size_t capacity;
    };

    Buffer next_;  // pushed since the current batch began
    Buffer batch_; // being run
};

} // namespace aio::detail
