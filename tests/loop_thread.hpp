// A loop running in a thread of its own, for the tests that talk to a loop from outside.
#pragma once

#include <aio/aio.hpp>

#include <future>
#include <thread>

namespace aio_test {

// Runs an EventLoop in a thread of its own; the loop lives in that thread.
class LoopThread {
public:
    explicit LoopThread(aio::LoopOptions options = {}) {
        auto fut = ready_.get_future();
        thread_ = std::thread([this, options] {
            aio::EventLoop loop(options);
            aio::set_event_loop(&loop);
            loop_thread_id_ = std::this_thread::get_id();
            ready_.set_value(&loop);
            loop.run_forever();
            loop.close();
            aio::set_event_loop(nullptr);
        });
        loop_ = fut.get();
    }
    LoopThread(const LoopThread&) = delete;
    LoopThread& operator=(const LoopThread&) = delete;
    ~LoopThread() { stop(); }

    aio::EventLoop& loop() { return *loop_; }
    std::thread::id id() const { return loop_thread_id_; }

    void stop() {
        if (thread_.joinable()) {
            loop_->call_soon_threadsafe([l = loop_] { l->stop(); });
            thread_.join();
        }
    }

private:
    std::promise<aio::EventLoop*> ready_;
    aio::EventLoop* loop_ = nullptr;
    std::thread::id loop_thread_id_;
    std::thread thread_;
};

} // namespace aio_test
