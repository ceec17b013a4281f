// Helpers every test file may share: the event log tasks record into, test-clock options, the
// process's open fd count and a watchdog that turns a hanging loop into a failing test.
#pragma once

#include <aio/aio.hpp>

#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <dirent.h>

namespace aio_test {

using Log = std::vector<std::string>;

inline aio::LoopOptions virtual_loop() {
    aio::LoopOptions o;
    o.virtual_time = true;
    return o;
}

inline aio::RunOptions virtual_run() {
    aio::RunOptions o;
    o.virtual_time = true;
    return o;
}

/// Milliseconds of loop time since `t0`.
inline long long ms_since(aio::Clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(aio::get_running_loop().time() - t0).count();
}

/// Awaits `t` and gives the exception it ended with (nullptr when it returned); the value
/// itself is dropped. (A catch handler cannot co_await, so tests inspect this afterwards.)
template <class Awaitable>
aio::Task<std::exception_ptr> error_of(Awaitable t) {
    try {
        co_await std::move(t);
    } catch (...) {
        co_return std::current_exception();
    }
    co_return nullptr;
}

/// The message of the aio::RuntimeError `fn` throws, or what happened instead.
template <class F>
std::string runtime_error_of(F&& fn) {
    try {
        fn();
    } catch (const aio::RuntimeError& e) {
        return e.what();
    } catch (const std::exception& e) {
        return std::string("not an aio::RuntimeError: ") + e.what();
    }
    return "no exception";
}

/// The loop's timer heap, for tests that check a wait left nothing behind.
inline aio::detail::TimerHeap& timers_of(aio::EventLoop& loop) { return aio::detail::LoopAccess::core(loop).timers(); }

/// How many fds this process has open (the entries of /proc/self/fd, or /dev/fd), not counting
/// the one used to list them; -1 when neither can be read. Tests compare it with a baseline
/// taken before they opened anything: after the loop and the pipes are gone it must be equal.
inline int open_fd_count() {
    DIR* dir = ::opendir("/proc/self/fd");
    if (!dir) dir = ::opendir("/dev/fd");
    if (!dir) return -1;
    int n = 0;
    while (const dirent* entry = ::readdir(dir))
        if (entry->d_name[0] != '.') ++n;
    ::closedir(dir);
    return n - 1;
}

/// Stops `loop` from another thread (call_soon_threadsafe) if the test is still running after
/// `limit` of real time, so a test that would hang (a lost wake-up, a loop that spins and
/// keeps the test clock from moving) fails instead: the run_until_complete in progress throws
/// aio::RuntimeError ("the event loop stopped before the task completed"). Declare it after
/// the loop, so that it is gone before the loop closes.
class Watchdog {
public:
    explicit Watchdog(aio::EventLoop& loop, std::chrono::milliseconds limit = std::chrono::seconds(20))
        : thread_([this, &loop, limit] {
              std::unique_lock lock(mutex_);
              if (done_cv_.wait_for(lock, limit, [this] { return done_; })) return;
              fired_ = true;
              lock.unlock();
              try {
                  loop.call_soon_threadsafe([&loop] { loop.stop(); });
              } catch (...) { // the loop closed meanwhile: nothing left to stop
              }
          }) {}
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;
    ~Watchdog() {
        {
            std::lock_guard lock(mutex_);
            done_ = true;
        }
        done_cv_.notify_all();
        thread_.join();
    }

    /// Whether the time ran out (the loop was stopped).
    bool fired() const {
        std::lock_guard lock(mutex_);
        return fired_;
    }

private:
    mutable std::mutex mutex_;
    std::condition_variable done_cv_;
    bool done_ = false;
    bool fired_ = false;
    std::thread thread_; // last: it uses the members above
};

} // namespace aio_test
