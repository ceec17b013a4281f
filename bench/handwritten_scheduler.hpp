// A hand-written, minimal single-threaded coroutine scheduler: the floor that a
// coroutine library can at best match. It does the least work that the same
// jobs need, and nothing more:
//
//  * hw::Task<T>: a lazy, move-only coroutine task. Its frame is allocated with
//    the global operator new, like any coroutine frame (no custom allocator, no
//    frame recycling). `co_await task` starts it by symmetric transfer and the
//    final suspend transfers straight back to the awaiter; the result or the
//    exception is stored in the promise.
//  * hw::Scheduler: a ready queue that is a power-of-two ring buffer of
//    std::coroutine_handle<>, a binary min-heap of timers (deadline, sequence
//    number, plain function pointer + context), and an epoll fd used only to
//    sleep until the next deadline (epoll_wait, timeout rounded up to whole
//    milliseconds so the loop never wakes early and never spins). The loop's
//    time is read from the clock at most once per turn, and only when needed.
//
// What it deliberately lacks compared with a real library: cancellation, names,
// copyable/shared task handles, done callbacks, exception handlers, I/O
// readiness, thread-safe wake-ups, debug checks. A spawned task must be awaited
// (or outlive its handle) because the handle owns the frame.
#pragma once

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <new>
#include <optional>
#include <utility>
#include <vector>

namespace hw {

using Clock = std::chrono::steady_clock;

// ------------------------------------------------------------ ready queue ----

class RingQueue {
public:
    RingQueue() : buf_(static_cast<std::coroutine_handle<>*>(std::malloc(sizeof(std::coroutine_handle<>) * 64))), mask_(63) {
        if (!buf_) throw std::bad_alloc();
    }
    ~RingQueue() { std::free(buf_); }
    RingQueue(const RingQueue&) = delete;
    RingQueue& operator=(const RingQueue&) = delete;

    bool empty() const noexcept { return head_ == tail_; }
    std::size_t size() const noexcept { return tail_ - head_; }

    void push(std::coroutine_handle<> h) {
        if (tail_ - head_ == mask_ + 1) grow();
        buf_[tail_++ & mask_] = h;
    }
    std::coroutine_handle<> pop() noexcept { return buf_[head_++ & mask_]; }

private:
    void grow() {
        std::size_t cap = mask_ + 1, ncap = cap * 2;
        auto* nb = static_cast<std::coroutine_handle<>*>(std::malloc(sizeof(std::coroutine_handle<>) * ncap));
        if (!nb) throw std::bad_alloc();
        for (std::size_t i = 0; i < cap; ++i) nb[i] = buf_[(head_ + i) & mask_];
        std::free(buf_);
        buf_ = nb;
        mask_ = ncap - 1;
        head_ = 0;
        tail_ = cap;
    }
    std::coroutine_handle<>* buf_;
    std::size_t mask_;
    std::size_t head_ = 0, tail_ = 0;   // free-running counters
};

class Scheduler;
inline thread_local Scheduler* current_scheduler = nullptr;

// ------------------------------------------------------------------- task ----

template <class T = void>
class Task;

namespace detail {

struct PromiseBase {
    std::coroutine_handle<> continuation;   // who awaits us (null: nobody yet)
    std::exception_ptr error;
    bool started = false;                   // spawned onto the ready queue

    std::suspend_always initial_suspend() noexcept { return {}; }
    struct FinalAwaiter {
        bool await_ready() noexcept { return false; }
        template <class P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
            auto c = h.promise().continuation;
            return c ? c : std::noop_coroutine();
        }
        void await_resume() noexcept {}
    };
    FinalAwaiter final_suspend() noexcept { return {}; }
    void unhandled_exception() noexcept { error = std::current_exception(); }
};

template <class T>
struct Promise : PromiseBase {
    std::optional<T> value;
    Task<T> get_return_object() noexcept;
    template <class U>
    void return_value(U&& v) { value.emplace(std::forward<U>(v)); }
    T take() {
        if (error) std::rethrow_exception(error);
        return std::move(*value);
    }
};

template <>
struct Promise<void> : PromiseBase {
    Task<void> get_return_object() noexcept;
    void return_void() noexcept {}
    void take() {
        if (error) std::rethrow_exception(error);
    }
};

}  // namespace detail

template <class T>
class [[nodiscard]] Task {
public:
    using promise_type = detail::Promise<T>;
    using handle_type = std::coroutine_handle<promise_type>;

    Task() noexcept = default;
    explicit Task(handle_type h) noexcept : h_(h) {}
    Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
    Task& operator=(Task&& o) noexcept {
        if (this != &o) {
            if (h_) h_.destroy();
            h_ = std::exchange(o.h_, {});
        }
        return *this;
    }
    ~Task() {
        if (h_) h_.destroy();
    }

    bool done() const noexcept { return h_ && h_.done(); }
    handle_type handle() const noexcept { return h_; }

    struct Awaiter {
        handle_type h;
        bool await_ready() const noexcept { return h.done(); }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
            h.promise().continuation = awaiting;
            if (h.promise().started) return std::noop_coroutine();   // spawned: wait for it
            h.promise().started = true;
            return h;                                                 // lazy: run it now, inline
        }
        T await_resume() { return h.promise().take(); }
    };
    Awaiter operator co_await() const& noexcept { return Awaiter{h_}; }

private:
    handle_type h_{};
};

namespace detail {
template <class T>
Task<T> Promise<T>::get_return_object() noexcept {
    return Task<T>(std::coroutine_handle<Promise<T>>::from_promise(*this));
}
inline Task<void> Promise<void>::get_return_object() noexcept {
    return Task<void>(std::coroutine_handle<Promise<void>>::from_promise(*this));
}
}  // namespace detail

// -------------------------------------------------------------- scheduler ----

class Scheduler {
public:
    using Callback = void (*)(void*);

    Scheduler() : epfd_(::epoll_create1(EPOLL_CLOEXEC)) {
        if (epfd_ < 0) std::abort();
    }
    ~Scheduler() { ::close(epfd_); }
    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;

    // Puts a handle at the back of the ready queue.
    void post(std::coroutine_handle<> h) { ready_.push(h); }

    // Starts a task on a later turn of the loop and hands back its owner.
    template <class T>
    Task<T> spawn(Task<T> t) {
        t.handle().promise().started = true;
        ready_.push(t.handle());
        return t;
    }

    // The loop's notion of now: the clock is read at most once per turn, and
    // only in a turn that needs it (pending timers, or someone asked).
    Clock::time_point time() noexcept {
        if (!now_valid_) {
            now_ = Clock::now();
            now_valid_ = true;
        }
        return now_;
    }

    // Calls fn(ctx) once `delay` has passed (relative to time()).
    void call_later(Clock::duration delay, Callback fn, void* ctx) {
        call_at(time() + delay, fn, ctx);
    }
    void call_at(Clock::time_point when, Callback fn, void* ctx) {
        timers_.push_back(Timer{when, seq_++, fn, ctx});
        std::push_heap(timers_.begin(), timers_.end(), Later{});
    }

    // co_await sched.yield(): back of the ready queue, resumed on the next turn.
    auto yield() noexcept {
        struct Yield {
            Scheduler* s;
            bool await_ready() const noexcept { return false; }
            void await_suspend(std::coroutine_handle<> h) { s->ready_.push(h); }
            void await_resume() const noexcept {}
        };
        return Yield{this};
    }

    // Runs `main` to completion (and whatever it spawns meanwhile).
    template <class T>
    T run(Task<T> main) {
        Scheduler* prev = std::exchange(current_scheduler, this);
        Task<T> t = spawn(std::move(main));
        while (!t.done()) {
            if (!run_once()) std::abort();   // deadlock: main waits on nothing
        }
        current_scheduler = prev;
        return t.handle().promise().take();
    }

    // Runs until there is neither ready work nor a pending timer.
    void run_until_idle() {
        Scheduler* prev = std::exchange(current_scheduler, this);
        while (run_once()) {
        }
        current_scheduler = prev;
    }

    std::uint64_t wakeups() const noexcept { return wakeups_; }

private:
    struct Timer {
        Clock::time_point when;
        std::uint64_t seq;
        Callback fn;
        void* ctx;
    };
    struct Later {   // min-heap on (when, seq)
        bool operator()(const Timer& a, const Timer& b) const noexcept {
            return a.when != b.when ? a.when > b.when : a.seq > b.seq;
        }
    };

    // One turn: sleep if there is nothing ready, fire due timers, then run the
    // handles that were ready at the start of the turn. False when idle.
    bool run_once() {
        now_valid_ = false;
        if (!timers_.empty()) {
            if (ready_.empty()) {
                auto wait = timers_.front().when - Clock::now();
                if (wait > Clock::duration::zero()) {
                    // Round up: never wake before the deadline.
                    auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
                    epoll_event ev;
                    ::epoll_wait(epfd_, &ev, 1, int(ms));
                    ++wakeups_;
                }
            }
            now_ = Clock::now();   // once per turn
            now_valid_ = true;
            while (!timers_.empty() && timers_.front().when <= now_) {
                std::pop_heap(timers_.begin(), timers_.end(), Later{});
                Timer t = timers_.back();
                timers_.pop_back();
                t.fn(t.ctx);
            }
        } else if (ready_.empty()) {
            return false;
        }
        for (std::size_t n = ready_.size(); n > 0; --n) ready_.pop().resume();
        return true;
    }

    RingQueue ready_;
    std::vector<Timer> timers_;
    std::uint64_t seq_ = 0;
    std::uint64_t wakeups_ = 0;
    Clock::time_point now_{};
    bool now_valid_ = false;
    int epfd_;
};

// co_await hw::yield(): yields through the current scheduler's ready queue.
inline auto yield() noexcept { return current_scheduler->yield(); }

template <class T>
Task<T> spawn(Task<T> t) {
    return current_scheduler->spawn(std::move(t));
}

}  // namespace hw
