// aio::Queue, aio::LifoQueue, aio::PriorityQueue — queues between the tasks of one event loop
// (asyncio.Queue, LifoQueue, PriorityQueue with Python 3.13's shutdown()).
//
//   aio::Queue<Job> queue(100);                 // bounded: put() waits while 100 items wait
//   co_await queue.put(job);                    // producer
//   Job job = co_await queue.get();             // consumer
//   queue.task_done();                          // ... when done with it
//   co_await queue.join();                      // until every item put was task_done()
#pragma once

#include <aio/detail/algorithm.hpp>
#include <coroutine>
#include <cstddef>
#include <aio/detail/function.hpp>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include <aio/detail/promise_base.hpp>
#include <aio/detail/waiter_list.hpp>
#include <aio/errors.hpp>

namespace aio {

namespace detail {

// --- storage: the order in which items come out -------------------------------------------------

/// A growable ring buffer (power-of-two capacity): the FIFO store. Cheaper than std::deque,
/// whose push_back g++ does not inline in a large translation unit.
template <class T>
class FifoStore {
public:
    FifoStore() noexcept = default;
    FifoStore(FifoStore&& other) noexcept
        : data_(std::exchange(other.data_, nullptr)), mask_(std::exchange(other.mask_, 0)),
          head_(std::exchange(other.head_, 0)), tail_(std::exchange(other.tail_, 0)) {}
    FifoStore(const FifoStore&) = delete;
    FifoStore& operator=(const FifoStore&) = delete;
    FifoStore& operator=(FifoStore&&) = delete;
    ~FifoStore() {
        clear();
        if (data_) std::allocator<T>().deallocate(data_, mask_ + 1);
    }

    std::size_t size() const noexcept { return tail_ - head_; }
    AIO_ALWAYS_INLINE void push(T&& item) {
        if (AIO_UNLIKELY(!data_ || size() == mask_ + 1)) grow();
        ::new (static_cast<void*>(data_ + (tail_ & mask_))) T(std::move(item));
        ++tail_;
    }
    AIO_ALWAYS_INLINE T pop() {
        T& slot = data_[head_ & mask_];
        T item(std::move(slot));
        slot.~T();
        ++head_;
        return item;
    }
    void clear() noexcept {
        for (; head_ != tail_; ++head_) data_[head_ & mask_].~T();
    }

private:
    AIO_NOINLINE void grow() {
        const std::size_t capacity = data_ ? 2 * (mask_ + 1) : 16;
        T* bigger = std::allocator<T>().allocate(capacity);
        std::size_t moved = 0;
        try {
            for (; moved < size(); ++moved)
                ::new (static_cast<void*>(bigger + moved)) T(std::move_if_noexcept(data_[(head_ + moved) & mask_]));
        } catch (...) {
            for (std::size_t i = 0; i < moved; ++i) bigger[i].~T();
            std::allocator<T>().deallocate(bigger, capacity);
            throw;
        }
        const std::size_t n = size();
        if (data_) {
            clear();
            std::allocator<T>().deallocate(data_, mask_ + 1);
        }
        data_ = bigger;
        mask_ = capacity - 1;
        head_ = 0;
        tail_ = n;
    }

    T* data_ = nullptr;
    std::size_t mask_ = 0;
    std::size_t head_ = 0; // free-running indices
    std::size_t tail_ = 0;
};

template <class T>
class LifoStore {
public:
    std::size_t size() const noexcept { return items_.size(); }
    void push(T&& item) { items_.push_back(std::move(item)); }
    T pop() {
        T item = std::move(items_.back());
        items_.pop_back();
        return item;
    }
    void clear() noexcept { items_.clear(); }

private:
    std::vector<T> items_;
};

/// A binary heap that gives the smallest item by `Compare` first (as Python's heapq).
template <class T, class Compare>
class HeapStore {
public:
    explicit HeapStore(Compare compare = Compare()) : compare_(std::move(compare)) {}
    std::size_t size() const noexcept { return items_.size(); }
    void push(T&& item) {
        items_.push_back(std::move(item));
        std::push_heap(items_.begin(), items_.end(), greater());
    }
    T pop() {
        std::pop_heap(items_.begin(), items_.end(), greater());
        T item = std::move(items_.back());
        items_.pop_back();
        return item;
    }
    void clear() noexcept { items_.clear(); }

private:
    // std::*_heap keep the largest on top; inverting the comparison keeps the smallest there.
    auto greater() {
        return [this](const T& a, const T& b) { return compare_(b, a); };
    }
    std::vector<T> items_;
    Compare compare_;
};

template <class T, class Store>
class QueueBase;

/// A getter or putter: woken either with a claim (an item, or a free slot, kept for it until
/// it runs) or by shutdown().
struct QueueNode : WaitNode {
    bool claim = false;
};

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_queue_shut_down() {
    throw QueueShutDown("the queue was shut down: put() is refused, and get() only returns the items "
                        "left before shutdown(immediate = true); stop producing and consuming");
}
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_queue_full(std::size_t maxsize) {
    throw QueueFull("Queue::put_nowait() on a full queue (maxsize " + std::to_string(maxsize) +
                    "); co_await queue.put(item) to wait for a free slot");
}
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_queue_empty(bool shut_down) {
    if (shut_down) throw_queue_shut_down();
    throw QueueEmpty("Queue::get_nowait() on an empty queue; co_await queue.get() to wait for an item");
}

/// The awaitable QueueBase::put() returns: holds the item until there is room for it.
template <class T, class Store>
class [[nodiscard]] QueuePut : public PrimitiveWait<QueuePut<T, Store>, QueueBase<T, Store>, QueueNode> {
    using Base = PrimitiveWait<QueuePut<T, Store>, QueueBase<T, Store>, QueueNode>;
    using Base::node_;
    using Base::primitive_;

public:
    QueuePut(QueueBase<T, Store>& queue, T&& item) : Base(queue), item_(std::move(item)) {}
    QueuePut(QueuePut&& other) : Base(std::move(other)), item_(std::move(other.item_)) {}

    AIO_ALWAYS_INLINE bool await_ready() const noexcept { return primitive_.shutdown_ || !primitive_.full(); }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        return this->park_in(primitive_.putters_, primitive_.loop_, "aio::Queue", h);
    }
    AIO_ALWAYS_INLINE void await_resume() {
        if (AIO_LIKELY(!node_.task)) { // room at once, or shut down (put_nowait throws)
            primitive_.put_nowait(std::move(item_));
            return;
        }
        resume_after_wait();
    }

private:
    void resume_after_wait() {
        PromiseBase& task = *node_.task;
        if (node_.state != WaitState::woken) throw_cancelled(task);
        if (!node_.claim) { // woken by shutdown()
            if (task.cancel_pending()) throw_cancelled(task);
            throw_queue_shut_down();
        }
        --primitive_.put_claims_; // the slot kept for us: use it, or hand it on
        if (task.cancel_pending()) {
            primitive_.wake_putter();
            throw_cancelled(task);
        }
        if (primitive_.shutdown_) throw_queue_shut_down();
        primitive_.push(std::move(item_));
    }

    T item_;
};

/// The awaitable QueueBase::get() returns.
template <class T, class Store>
class [[nodiscard]] QueueGet : public PrimitiveWait<QueueGet<T, Store>, QueueBase<T, Store>, QueueNode> {
    using Base = PrimitiveWait<QueueGet<T, Store>, QueueBase<T, Store>, QueueNode>;
    using Base::node_;
    using Base::primitive_;

public:
    using Base::Base;

    AIO_ALWAYS_INLINE bool await_ready() const noexcept { return primitive_.qsize() > 0 || primitive_.shutdown_; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        return this->park_in(primitive_.getters_, primitive_.loop_, "aio::Queue", h);
    }
    AIO_ALWAYS_INLINE T await_resume() {
        if (AIO_LIKELY(!node_.task)) return primitive_.get_nowait(); // an item at once, or shut down and empty
        PromiseBase& task = *node_.task;
        if (node_.state != WaitState::woken) throw_cancelled(task);
        if (!node_.claim) { // woken by shutdown()
            if (task.cancel_pending()) throw_cancelled(task);
            throw_queue_shut_down();
        }
        --primitive_.get_claims_; // the item kept for us: take it, or hand it on
        if (task.cancel_pending()) {
            primitive_.wake_getter();
            throw_cancelled(task);
        }
        if (primitive_.store_.size() == 0) throw_queue_shut_down(); // shutdown(immediate = true) took it
        return primitive_.take();
    }
};

/// The awaitable QueueBase::join() returns.
template <class T, class Store>
class [[nodiscard]] QueueJoin : public PrimitiveWait<QueueJoin<T, Store>, QueueBase<T, Store>> {
    using Base = PrimitiveWait<QueueJoin<T, Store>, QueueBase<T, Store>>;
    using Base::primitive_;

public:
    using Base::Base;

    bool await_ready() const noexcept { return primitive_.unfinished_ == 0; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        return this->park_in(primitive_.joiners_, primitive_.loop_, "aio::Queue", h);
    }
    void await_resume() const { this->resume_plain(); }
};

/// What Queue, LifoQueue and PriorityQueue share; `Store` decides the order items come out.
///
/// Items and free slots are handed over FIFO: when an item arrives and tasks are waiting in
/// get(), the longest-waiting one is woken and that item is kept for it (it no longer counts
/// in qsize(), so a task arriving later cannot take it first); when a slot frees up and tasks
/// are waiting in put(), the longest-waiting one is woken and the slot is kept for it. A woken
/// task that is cancelled before it runs hands its item or slot on to the next waiter.
/// An item kept for a woken getter still occupies its slot until that task runs, so for that
/// moment full() may be true while qsize() < maxsize(): never more than maxsize() items are
/// in the queue.
template <class T, class Store>
class QueueBase {
public:
    using value_type = T;

    /// A queue holding at most `maxsize` items; 0 (the default) means unbounded.
    explicit QueueBase(std::size_t maxsize = 0) : maxsize_(maxsize) {}
    QueueBase(std::size_t maxsize, Store store) : store_(std::move(store)), maxsize_(maxsize) {}
    QueueBase(const QueueBase&) = delete;
    QueueBase& operator=(const QueueBase&) = delete;

    /// The bound given at construction; 0 means unbounded.
    std::size_t maxsize() const noexcept { return maxsize_; }
    /// The number of items a get() would find (items kept for woken getters do not count).
    std::size_t qsize() const noexcept {
        const std::size_t n = store_.size();
        return n > get_claims_ ? n - get_claims_ : 0;
    }
    /// True when a get() would have to wait.
    bool empty() const noexcept { return qsize() == 0; }
    /// True when a put() would have to wait: maxsize() > 0 and every slot is taken.
    bool full() const noexcept { return maxsize_ > 0 && store_.size() + put_claims_ >= maxsize_; }

    /// `co_await queue.put(item)` adds `item`, waiting while the queue is full(); completes at
    /// once, without suspending, when there is room. Throws aio::QueueShutDown after shutdown()
    /// (also a put() waiting at that moment). Cancel-safe: a cancelled put adds nothing (its
    /// item is destroyed with the awaitable), and a put cancelled after a slot was kept for it
    /// hands the slot to the next waiting put(). Throws aio::RuntimeError when waiting from a
    /// task of another loop than the queue's.
    QueuePut<T, Store> put(T item) { return QueuePut<T, Store>(*this, std::move(item)); }

    /// `T item = co_await queue.get()` removes and returns the next item, waiting while the
    /// queue is empty(); completes at once, without suspending, when there is one. After
    /// shutdown() it still returns the items left, then throws aio::QueueShutDown (at once with
    /// shutdown(immediate = true)). Cancel-safe: a cancelled get takes no item, and a get
    /// cancelled after an item was kept for it leaves the item to the next waiting get() (or in
    /// the queue). Throws aio::RuntimeError when waiting from a task of another loop.
    QueueGet<T, Store> get() noexcept { return QueueGet<T, Store>(*this); }

    /// Adds `item` without waiting. Throws aio::QueueFull when full(), aio::QueueShutDown
    /// after shutdown().
    AIO_ALWAYS_INLINE void put_nowait(T item) {
        loop_.check_caller("Queue::put_nowait");
        if (AIO_UNLIKELY(shutdown_)) throw_queue_shut_down();
        if (AIO_UNLIKELY(full())) throw_queue_full(maxsize_);
        if (!getters_.empty()) loop_.check_waker("aio::Queue");
        push(std::move(item));
    }

    /// Removes and returns the next item without waiting. Throws aio::QueueEmpty when empty(),
    /// or aio::QueueShutDown when empty() after shutdown().
    AIO_ALWAYS_INLINE T get_nowait() {
        loop_.check_caller("Queue::get_nowait");
        if (AIO_UNLIKELY(qsize() == 0)) throw_queue_empty(shutdown_);
        if (!putters_.empty()) loop_.check_waker("aio::Queue");
        return take();
    }

    /// Tells the queue that an item taken with get() has been processed; join() returns once
    /// every item put has been. Throws aio::ValueError when called more times than items were put.
    void task_done() {
        loop_.check_caller("Queue::task_done");
        if (AIO_UNLIKELY(unfinished_ == 0))
            throw ValueError("Queue::task_done() called more times than items were put; call it once per "
                             "item taken with get()");
        if (unfinished_ == 1 && !joiners_.empty()) loop_.check_waker("aio::Queue");
        if (--unfinished_ == 0) wake_all(joiners_);
    }

    /// `co_await queue.join()` waits until every item put has been marked task_done();
    /// completes at once when none is pending. Cancel-safe (it consumes nothing).
    QueueJoin<T, Store> join() noexcept { return QueueJoin<T, Store>(*this); }

    /// Shuts the queue down (Python 3.13): put() and put_nowait() throw aio::QueueShutDown from
    /// now on, and so do get() and get_nowait() once the queue is empty. Every task waiting in
    /// put() or get() wakes with aio::QueueShutDown. With `immediate`, the items left are
    /// dropped at once (task_done() is called for each, so join() may return) and get() throws
    /// straight away.
    void shutdown(bool immediate = false) {
        loop_.check_caller("Queue::shutdown");
        if (!getters_.empty() || !putters_.empty() || !joiners_.empty()) loop_.check_waker("aio::Queue");
        shutdown_ = true;
        if (immediate) {
            const std::size_t dropped = store_.size();
            store_.clear();
            unfinished_ -= std::min(dropped, unfinished_);
            if (unfinished_ == 0) wake_all(joiners_);
        }
        wake_all(getters_);
        wake_all(putters_);
    }

private:
    friend class QueuePut<T, Store>;
    friend class QueueGet<T, Store>;
    friend class QueueJoin<T, Store>;

    AIO_ALWAYS_INLINE void push(T&& item) {
        store_.push(std::move(item));
        ++unfinished_;
        if (!getters_.empty()) wake_getter();
    }
    AIO_ALWAYS_INLINE T take() {
        T item = store_.pop();
        if (!putters_.empty()) wake_putter();
        return item;
    }
    // An item nobody has claimed goes to the longest-waiting get().
    void wake_getter() {
        if (getters_.empty() || store_.size() <= get_claims_) return;
        ++get_claims_;
        auto& node = static_cast<QueueNode&>(getters_.pop_front());
        node.claim = true;
        wake(node);
    }
    // A free slot nobody has claimed goes to the longest-waiting put().
    void wake_putter() {
        if (putters_.empty() || full()) return;
        ++put_claims_;
        auto& node = static_cast<QueueNode&>(putters_.pop_front());
        node.claim = true;
        wake(node);
    }

    Store store_;
    std::size_t maxsize_;
    std::size_t get_claims_ = 0; // items kept for woken getters that have not run yet
    std::size_t put_claims_ = 0; // free slots kept for woken putters that have not run yet
    std::size_t unfinished_ = 0; // items put and not yet task_done()
    bool shutdown_ = false;
    WaitList getters_; // non-empty only while qsize() == 0
    WaitList putters_; // non-empty only while full()
    WaitList joiners_;
    LoopBinding loop_;
};

} // namespace detail

/// A first-in, first-out queue for the tasks of one event loop (asyncio.Queue). Not
/// thread-safe. Move-only T works. See detail::QueueBase for the members: put(), get(),
/// put_nowait(), get_nowait(), qsize(), empty(), full(), maxsize(), task_done(), join(),
/// shutdown(). Binds to the loop of the first task that waits on it; waiting from another
/// loop's task throws aio::RuntimeError. It must outlive the tasks that wait on it.
template <class T>
class Queue : public detail::QueueBase<T, detail::FifoStore<T>> {
public:
    /// At most `maxsize` items; 0 (the default) means unbounded.
    explicit Queue(std::size_t maxsize = 0) : detail::QueueBase<T, detail::FifoStore<T>>(maxsize) {}
};

/// A last-in, first-out queue (asyncio.LifoQueue): get() returns the item put most recently.
/// Otherwise as Queue.
template <class T>
class LifoQueue : public detail::QueueBase<T, detail::LifoStore<T>> {
public:
    /// At most `maxsize` items; 0 (the default) means unbounded.
    explicit LifoQueue(std::size_t maxsize = 0) : detail::QueueBase<T, detail::LifoStore<T>>(maxsize) {}
};

/// A priority queue (asyncio.PriorityQueue): get() returns the smallest item by `Compare`
/// first, as Python's heapq (so std::greater<T> gives the largest first). Items that compare
/// equal come out in no particular order: put (priority, sequence, item) tuples for FIFO among
/// equals. Otherwise as Queue.
template <class T, class Compare = std::less<T>>
class PriorityQueue : public detail::QueueBase<T, detail::HeapStore<T, Compare>> {
public:
    /// At most `maxsize` items; 0 (the default) means unbounded.
    explicit PriorityQueue(std::size_t maxsize = 0, Compare compare = Compare())
        : detail::QueueBase<T, detail::HeapStore<T, Compare>>(maxsize,
                                                              detail::HeapStore<T, Compare>(std::move(compare))) {}
};

} // namespace aio
