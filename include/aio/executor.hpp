// aio::ThreadPool — where blocking work runs by default (asyncio's ThreadPoolExecutor), and
// aio::Executor, the interface any pool implements (executor_base.hpp).
#pragma once

#include <aio/detail/algorithm.hpp>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <aio/detail/function.hpp>
#include <mutex>
#include <thread>
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
            queue_.push_back(std::move(work));
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
                wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
                if (queue_.empty()) return;
                job = std::move(queue_.front());
                queue_.pop_front();
            }
            job(); // jobs made by aio catch everything themselves
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::function<void()>> queue_;
    bool stopping_ = false;
    std::mutex join_mutex_;
    std::vector<std::thread> workers_;
};

} // namespace aio
