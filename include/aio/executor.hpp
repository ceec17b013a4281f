// aio::ThreadPool — where blocking work runs by default (asyncio's ThreadPoolExecutor), and
// aio::Executor, the interface any pool implements (executor_base.hpp).
#pragma once

#include <aio/detail/algorithm.hpp>
#include <condition_variable>
#include <cstddef>
#include <aio/detail/function.hpp>
#include <mutex>
#include <aio/detail/thread.hpp>
#include <vector>

#include <aio/errors.hpp>
#include <aio/executor_base.hpp>

namespace aio {

/// A fixed pool of worker threads (concurrent.futures.ThreadPoolExecutor).
class ThreadPool final : public Executor {
public:
    /// asyncio's default size: min(32, cores + 4).
    static std::size_t default_size() {
        return std::min<std::size_t>(32, std::max(1u, std::thread::hardware_concurrency()) + 4);
    }

    /// Starts `threads` workers; aio::ValueError when `threads` is 0.
    explicit ThreadPool(std::size_t threads = default_size()) {
        if (threads == 0) throw ValueError("aio::ThreadPool needs at least one thread");
        workers_.reserve(threads);
        for (std::size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
    }
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;
    ~ThreadPool() override { shutdown(true); }

    void submit(std::function<void()> work) override {
        {
            std::lock_guard lock(mutex_);
            if (stopping_)
                throw RuntimeError("cannot submit work to an aio::ThreadPool after shutdown(); "
                                   "create a new pool or submit before shutting down");
            auto* job = new Job{std::move(work), nullptr};
            (queue_tail_ ? queue_tail_->next : queue_head_) = job;
            queue_tail_ = job;
        }
        wake_.notify_one();
    }

    /// Queued work still runs. Without `wait` the workers finish in the background and the
    /// destructor joins them.
    void shutdown(bool wait = true) override {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        if (!wait) return;
        std::lock_guard join_lock(join_mutex_);
        for (auto& t : workers_)
            if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
    }

    std::size_t size() const noexcept { return workers_.size(); }

private:
    void work() {
        for (;;) {
            std::function<void()> job;
            {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, [this] { return stopping_ || queue_head_ != nullptr; });
                if (!queue_head_) return;
                Job* first = queue_head_;
                queue_head_ = first->next;
                if (!queue_head_) queue_tail_ = nullptr;
                job = std::move(first->work);
                delete first;
            }
            job(); // jobs made by aio catch everything themselves
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    // Queued work, oldest first: a plain linked list rather than std::deque, whose 2,800 lines
    // every program including <aio/aio.hpp> would otherwise parse.
    struct Job {
        std::function<void()> work;
        Job* next;
    };
    Job* queue_head_ = nullptr;
    Job* queue_tail_ = nullptr;
    bool stopping_ = false;
    std::mutex join_mutex_;
    std::vector<std::thread> workers_;
};

} // namespace aio
