// aio::detail — the loop's timer heap.
//
// Timers are ordered by (deadline, sequence number), so equal deadlines fire in the order they
// were scheduled. Two structures hold them:
//  - a sorted run: timers whose deadline is no earlier than the last one appended go to the
//    back of a FIFO. Timeouts of one length, sleeps in a loop and timers scheduled in order
//    all land here, and scheduling and firing them is O(1);
//  - a 4-ary min-heap for the rest. Four children per node halve the depth of a binary heap
//    and keep siblings in adjacent cache lines, which is what pop costs on a large heap.
// Each entry names a slot; the slot holds what to do on expiry. Cancelling frees the slot at
// once and leaves the entry behind as stale (it is skipped when it reaches the front), as
// asyncio does; when stale entries dominate, both structures are rebuilt without them. Slots
// are recycled, so scheduling allocates only when the structures grow.
#pragma once

#include <aio/detail/algorithm.hpp>
#include <cstdint>

#include <aio/config.hpp>
#include <aio/detail/pod_array.hpp>

namespace aio::detail {

/// Names one scheduled timer. Only the low 32 bits of its sequence number are kept, to keep
/// awaiters small; a stale id could only alias a live timer in the same slot 2^32 timers later.
struct TimerId {
    // No default member initializers: awaiters leave it unset until they arm a timer;
    // value-initialize (`TimerId{}`) for "no timer".
    std::uint32_t slot;
    std::uint32_t seq; // 0: no timer
    explicit operator bool() const noexcept { return seq != 0; }
};

class TimerHeap {
public:
    using Fire = void (*)(void*);

    TimerId schedule(std::int64_t deadline, Fire fire, void* arg) {
        std::uint32_t slot;
        if (free_head_ != no_slot) {
            slot = free_head_;
            free_head_ = slots_[slot].next_free;
        } else {
            slot = static_cast<std::uint32_t>(slots_.size());
            slots_.push_back(Slot{});
        }
        std::uint64_t seq = next_seq_++;
        if (AIO_UNLIKELY(static_cast<std::uint32_t>(seq) == 0)) seq = next_seq_++; // 0 means "no timer"
        slots_[slot] = Slot{fire, arg, seq, no_slot};
        const Entry entry{deadline, seq, slot};
        if (run_head_ == run_.size() || run_.back().deadline <= deadline) {
            run_.push_back(entry);
        } else {
            heap_.push_back(entry);
            sift_up(heap_.size() - 1);
        }
        return TimerId{slot, static_cast<std::uint32_t>(seq)};
    }

    /// Returns false when the timer already fired or was cancelled.
    bool cancel(TimerId id) noexcept {
        if (!id || id.slot >= slots_.size() || static_cast<std::uint32_t>(slots_[id.slot].seq) != id.seq) return false;
        free_slot(id.slot);
        ++stale_;
        if (stale_ > min_stale_to_purge && stale_ * 2 > entries()) purge();
        return true;
    }

    /// Number of live (not cancelled) timers.
    std::size_t size() const noexcept { return entries() - stale_; }
    bool empty() const noexcept { return size() == 0; }

    /// Deadline of the earliest live timer; call only when !empty().
    std::int64_t next_deadline() noexcept {
        drop_stale_fronts();
        return earliest().deadline;
    }

    /// Calls fire(arg) for every live timer due at or before `now`, in deadline order.
    template <class Sink>
    void pop_due(std::int64_t now, Sink&& sink) {
        for (;;) {
            const bool from_run = run_head_ != run_.size() && (heap_.empty() || earlier(run_[run_head_], heap_.front()));
            if (!from_run && heap_.empty()) break;
            const Entry top = from_run ? run_[run_head_] : heap_.front();
            if (top.deadline > now) break;
            if (from_run)
                pop_run();
            else
                pop_heap();
            Slot& slot = slots_[top.slot];
            if (slot.seq != top.seq) {
                --stale_;
                continue;
            }
            const Fire fire = slot.fire;
            void* arg = slot.arg;
            free_slot(top.slot);
            sink(fire, arg);
        }
    }

    /// Removes every timer, handing each live one's argument to `drop` (loop teardown).
    template <class Drop>
    void clear(Drop&& drop) {
        auto drop_live = [&](const Entry& e) {
            if (slots_[e.slot].seq == e.seq) drop(slots_[e.slot].fire, slots_[e.slot].arg);
        };
        for (std::size_t i = run_head_; i < run_.size(); ++i) drop_live(run_[i]);
        for (const Entry& e : heap_) drop_live(e);
        run_.clear();
        run_head_ = 0;
        heap_.clear();
        slots_.clear();
        free_head_ = no_slot;
        stale_ = 0;
    }

private:
    struct Entry {
        std::int64_t deadline;
        std::uint64_t seq;
        std::uint32_t slot;
    };
    struct Slot {
        Fire fire = nullptr;
        void* arg = nullptr;
        std::uint64_t seq = 0; // 0: free
        std::uint32_t next_free = 0;
    };
    static constexpr std::uint32_t no_slot = 0xffffffffu;
    static constexpr std::size_t min_stale_to_purge = 100;
    static constexpr std::size_t arity = 4;

    static bool earlier(const Entry& a, const Entry& b) noexcept {
        return a.deadline != b.deadline ? a.deadline < b.deadline : a.seq < b.seq;
    }

    std::size_t entries() const noexcept { return run_.size() - run_head_ + heap_.size(); }

    bool live(const Entry& e) const noexcept { return slots_[e.slot].seq == e.seq; }

    const Entry& earliest() const noexcept {
        if (run_head_ == run_.size()) return heap_.front();
        if (heap_.empty()) return run_[run_head_];
        return earlier(run_[run_head_], heap_.front()) ? run_[run_head_] : heap_.front();
    }

    void pop_run() noexcept {
        if (++run_head_ == run_.size()) {
            run_.clear();
            run_head_ = 0;
        } else if (run_head_ >= 1024 && run_head_ * 2 >= run_.size()) {
            run_.erase_front(run_head_); // O(1) amortized
            run_head_ = 0;
        }
    }

    void sift_up(std::size_t i) noexcept {
        const Entry moving = heap_[i];
        while (i > 0) {
            const std::size_t parent = (i - 1) / arity;
            if (!earlier(moving, heap_[parent])) break;
            heap_[i] = heap_[parent];
            i = parent;
        }
        heap_[i] = moving;
    }

    void sift_down(std::size_t i) noexcept {
        const std::size_t n = heap_.size();
        if (i >= n) return;
        const Entry moving = heap_[i];
        for (;;) {
            const std::size_t first = i * arity + 1;
            if (first >= n) break;
            std::size_t best = first;
            const std::size_t last = std::min(first + arity, n);
            for (std::size_t c = first + 1; c < last; ++c)
                if (earlier(heap_[c], heap_[best])) best = c;
            if (!earlier(heap_[best], moving)) break;
            heap_[i] = heap_[best];
            i = best;
        }
        heap_[i] = moving;
    }

    void pop_heap() noexcept {
        heap_.front() = heap_.back();
        heap_.pop_back();
        sift_down(0);
    }

    void free_slot(std::uint32_t slot) noexcept {
        slots_[slot].seq = 0;
        slots_[slot].next_free = free_head_;
        free_head_ = slot;
    }

    void drop_stale_fronts() noexcept {
        for (;;) {
            if (run_head_ != run_.size() && !live(run_[run_head_])) {
                pop_run();
                --stale_;
            } else if (!heap_.empty() && !live(heap_.front())) {
                pop_heap();
                --stale_;
            } else {
                return;
            }
        }
    }

    void purge() {
        run_.erase_front(run_head_);
        run_head_ = 0;
        run_.erase_if([this](const Entry& e) { return !live(e); }); // stays sorted
        heap_.erase_if([this](const Entry& e) { return !live(e); });
        for (std::size_t i = heap_.size() / arity + 1; i-- > 0;) sift_down(i);
        stale_ = 0;
    }

    PodArray<Entry> run_; // sorted by (deadline, seq) from run_head_ on
    std::size_t run_head_ = 0;
    PodArray<Entry> heap_;
    PodArray<Slot> slots_;
    std::uint32_t free_head_ = no_slot; // free slots, linked through Slot::next_free
    std::size_t stale_ = 0;
    std::uint64_t next_seq_ = 1;
};

} // namespace aio::detail
