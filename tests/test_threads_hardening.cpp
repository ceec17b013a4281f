// Regression tests for the hardening fixes that need another thread (built into
// aio_thread_tests, run under ThreadSanitizer by CI; single-threaded items are in
// test_hardening.cpp). Each TEST_CASE starts with the number of the item it checks:
//   5  a debug loop rejects calls from a thread other than its own, and nothing changes
//   7  run_coroutine_threadsafe takes any awaitable
//   9  the test clock does not jump while executor work started by the loop is running
// Catch2 assertions are made on the main thread only; the loop thread records what it saw
// into variables the main thread reads after joining it.
#include "catch.hpp"
#include "loop_thread.hpp"
#include "combinator_util.hpp"
#include "pipe.hpp"
#include <aio/aio.hpp>
#include <aio/threadsafe.hpp>

#include <chrono>
#include <exception>
#include <functional>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

using namespace std::chrono_literals;

namespace {

constexpr const char* foreign_thread = "thread other than the loop's";

// Runs aio::run(..., debug) on a thread of its own. The main task first awaits `setup()`, which
// starts the tasks the test needs; the constructor returns once they have all had a few turns
// (so they wait on whatever they wait on). finish(fn) runs fn on the loop's thread, lets the
// run end (aio::run cancels what is still pending) and joins the thread.
class DebugLoop {
public:
    explicit DebugLoop(std::function<aio::Task<>()> setup) {
        std::future<aio::EventLoop*> ready = ready_.get_future();
        thread_ = std::thread([this, setup = std::move(setup)]() mutable {
            try {
                aio::RunOptions options;
                options.debug = true;
                aio::run(main(std::move(setup)), options);
            } catch (...) {
                error_ = std::current_exception();
            }
        });
        try {
            loop_ = ready.get(); // rethrows what setup() threw
        } catch (...) {
            thread_.join(); // the run has ended
            throw;
        }
    }
    DebugLoop(const DebugLoop&) = delete;
    DebugLoop& operator=(const DebugLoop&) = delete;
    ~DebugLoop() { finish(); }

    aio::EventLoop& loop() { return *loop_; }

    void finish(std::function<void()> on_loop_thread = {}) {
        if (!thread_.joinable())
            return;
        loop_->call_soon_threadsafe([this, fn = std::move(on_loop_thread)] {
            if (fn)
                fn();
            stop_.set();
        });
        thread_.join();
    }

    /// What aio::run threw on the loop thread (nullptr if it returned); after finish().
    std::string run_error() const { return error_ ? aio_test::describe(error_) : ""; }
    bool stopped_normally() const { return stopped_normally_; }

private:
    aio::Task<> main(std::function<aio::Task<>()> setup) {
        try {
            co_await setup();
        } catch (...) {
            ready_.set_exception(std::current_exception());
            throw;
        }
        for (int i = 0; i < 3; ++i)
            co_await aio::sleep(0s);
        ready_.set_value(&aio::get_running_loop());
        co_await stop_.wait();
        stopped_normally_ = true;
    }

    std::promise<aio::EventLoop*> ready_;
    aio::EventLoop* loop_ = nullptr;
    aio::Event stop_;
    bool stopped_normally_ = false;
    std::exception_ptr error_;
    std::thread thread_;
};


aio::Task<> wait_event(aio::Event& e, bool& woke) {
    co_await e.wait();
    woke = true;
}

// Takes the lock and keeps it (no guard: whatever a foreign release() did, the teardown releases
// nothing twice).
aio::Task<> hold_lock(aio::Lock& l) {
    co_await l.acquire();
    co_await aio::sleep(1h);
}

aio::Task<> take_lock(aio::Lock& l, bool& got) {
    co_await l.acquire();
    got = true;
    l.release();
}

} // namespace

// ================================================================ 5. debug mode: foreign threads

TEST_CASE("5.1 debug loop: Event::set() from another thread throws, changes nothing",
          "[hardening][threads][debug]") {
    aio::Event ev;
    bool woke = false;
    struct {
        bool woke = true, is_set = true;
    } seen;
    DebugLoop dl([&]() -> aio::Task<> {
        aio::create_task(wait_event(ev, woke));
        co_return;
    });
    const std::string error = aio_test::runtime_error_of([&] { ev.set(); });
    dl.finish([&] {
        seen.woke = woke;
        seen.is_set = ev.is_set();
    });
    REQUIRE_THAT(error, Catch::Contains(foreign_thread));
    REQUIRE_FALSE(seen.woke);
    REQUIRE_FALSE(seen.is_set);
    REQUIRE(dl.run_error().empty());
    REQUIRE(dl.stopped_normally());
}

TEST_CASE("5.2 debug loop: Task::cancel() from another thread throws, changes nothing",
          "[hardening][threads][debug]") {
    aio::Event ev;
    bool woke = false;
    aio::TaskRef victim; // set on the loop thread; the main thread only calls cancel()
    struct {
        bool done = true;
        int cancelling = -1;
    } seen;
    DebugLoop dl([&]() -> aio::Task<> {
        victim = aio::create_task(wait_event(ev, woke));
        co_return;
    });
    const std::string error = aio_test::runtime_error_of([&] { victim.cancel("from another thread"); });
    dl.finish([&] {
        seen.done = victim.done();
        seen.cancelling = victim.cancelling();
        victim = {}; // dropped on the loop's thread
    });
    REQUIRE_THAT(error, Catch::Contains(foreign_thread));
    REQUIRE_FALSE(seen.done);
    REQUIRE(seen.cancelling == 0);
    REQUIRE(dl.run_error().empty());
}

TEST_CASE("5.3 debug loop: remove_reader() from another thread throws, the reader stays",
          "[hardening][threads][debug][io]") {
    aio_test::Pipe p;
    std::promise<void> readable;
    DebugLoop dl([&]() -> aio::Task<> {
        aio::create_task([](int fd, std::promise<void>& done) -> aio::Task<> {
            co_await aio::wait_readable(fd);
            done.set_value();
        }(p.r, readable));
        co_return;
    });
    const std::string error = aio_test::runtime_error_of([&] { (void)dl.loop().remove_reader(p.r); });
    p.write("x");
    // The reader is still registered: the byte wakes the task.
    const bool woke = readable.get_future().wait_for(1s) == std::future_status::ready;
    dl.finish();
    REQUIRE_THAT(error, Catch::Contains(foreign_thread));
    REQUIRE(woke);
    REQUIRE(dl.run_error().empty());
}

TEST_CASE("5.4 debug loop: time() from another thread throws", "[hardening][threads][debug]") {
    DebugLoop dl([]() -> aio::Task<> { co_return; });
    const std::string error = aio_test::runtime_error_of([&] { (void)dl.loop().time(); });
    dl.finish();
    REQUIRE_THAT(error, Catch::Contains(foreign_thread));
    REQUIRE(dl.run_error().empty());
}

TEST_CASE("5.5 debug loop: close() from another thread throws, the loop goes on",
          "[hardening][threads][debug]") {
    bool closed = true;
    DebugLoop dl([]() -> aio::Task<> { co_return; });
    const std::string error = aio_test::runtime_error_of([&] { dl.loop().close(); });
    dl.finish([&] { closed = aio::get_running_loop().is_closed(); });
    REQUIRE_THAT(error, Catch::Contains(foreign_thread));
    REQUIRE_FALSE(closed);
    REQUIRE(dl.run_error().empty());
    REQUIRE(dl.stopped_normally());
}

TEST_CASE("5.6 debug loop: Lock::release() from another thread throws, changes nothing",
          "[hardening][threads][debug][sync]") {
    aio::Lock lock;
    bool got = false;
    struct {
        bool locked = false, got = true;
    } seen;
    DebugLoop dl([&]() -> aio::Task<> {
        aio::create_task(hold_lock(lock));
        aio::create_task(take_lock(lock, got)); // waits: binds the lock to the loop
        co_return;
    });
    const std::string error = aio_test::runtime_error_of([&] { lock.release(); });
    dl.finish([&] {
        seen.locked = lock.locked();
        seen.got = got;
    });
    REQUIRE_THAT(error, Catch::Contains(foreign_thread));
    REQUIRE(seen.locked);
    REQUIRE_FALSE(seen.got);
    REQUIRE(dl.run_error().empty());
}

TEST_CASE("5.7 debug loop: Semaphore::release() from another thread throws, changes nothing",
          "[hardening][threads][debug][sync]") {
    aio::Semaphore sem(0);
    bool got = false;
    struct {
        bool locked = false, got = true;
    } seen;
    DebugLoop dl([&]() -> aio::Task<> {
        aio::create_task([](aio::Semaphore& s, bool& g) -> aio::Task<> {
            co_await s.acquire();
            g = true;
        }(sem, got));
        co_return;
    });
    const std::string error = aio_test::runtime_error_of([&] { sem.release(); });
    dl.finish([&] {
        seen.locked = sem.locked();
        seen.got = got;
    });
    REQUIRE_THAT(error, Catch::Contains(foreign_thread));
    REQUIRE(seen.locked);
    REQUIRE_FALSE(seen.got);
    REQUIRE(dl.run_error().empty());
}

TEST_CASE("5.8 debug loop: Condition::notify() from another thread throws, changes nothing",
          "[hardening][threads][debug][sync]") {
    aio::Condition cond;
    bool notified = false;
    struct {
        bool locked = false, notified = true;
    } seen;
    DebugLoop dl([&]() -> aio::Task<> {
        aio::create_task([](aio::Condition& c, bool& n) -> aio::Task<> {
            auto g = co_await c.scoped();
            co_await c.wait(); // binds the condition and its lock; releases the lock
            n = true;
        }(cond, notified));
        aio::create_task([](aio::Condition& c) -> aio::Task<> {
            auto g = co_await c.scoped(); // holds the lock, so notify() is legal but for the thread
            co_await aio::sleep(1h);
        }(cond));
        co_return;
    });
    const std::string error = aio_test::runtime_error_of([&] { cond.notify(); });
    dl.finish([&] {
        seen.locked = cond.locked();
        seen.notified = notified;
    });
    REQUIRE_THAT(error, Catch::Contains(foreign_thread));
    REQUIRE(seen.locked);
    REQUIRE_FALSE(seen.notified);
    REQUIRE(dl.run_error().empty());
}

TEST_CASE(
    "5.9 debug loop: Queue::put_nowait() / get_nowait() from another thread throw, change nothing",
    "[hardening][threads][debug][sync]") {
    aio::Queue<int> empty_queue;   // a get() waits on it
    aio::Queue<int> full_queue(1); // holds one item; a put() waits on it
    bool got = false, put = false;
    struct {
        std::size_t empty_size = 9, full_size = 9;
        bool got = true, put = true;
    } seen;
    DebugLoop dl([&]() -> aio::Task<> {
        full_queue.put_nowait(1);
        aio::create_task([](aio::Queue<int>& q, bool& g) -> aio::Task<> {
            (void)co_await q.get();
            g = true;
        }(empty_queue, got));
        aio::create_task([](aio::Queue<int>& q, bool& p) -> aio::Task<> {
            co_await q.put(2);
            p = true;
        }(full_queue, put));
        co_return;
    });
    const std::string put_error = aio_test::runtime_error_of([&] { empty_queue.put_nowait(5); });
    const std::string get_error = aio_test::runtime_error_of([&] { (void)full_queue.get_nowait(); });
    dl.finish([&] {
        seen.empty_size = empty_queue.qsize();
        seen.full_size = full_queue.qsize();
        seen.got = got;
        seen.put = put;
    });
    REQUIRE_THAT(put_error, Catch::Contains(foreign_thread));
    REQUIRE_THAT(get_error, Catch::Contains(foreign_thread));
    REQUIRE(seen.empty_size == 0);
    REQUIRE(seen.full_size == 1);
    REQUIRE_FALSE(seen.got);
    REQUIRE_FALSE(seen.put);
    REQUIRE(dl.run_error().empty());
}

TEST_CASE("5.10 debug loop: Barrier::abort() from another thread throws, changes nothing",
          "[hardening][threads][debug][sync]") {
    aio::Barrier barrier(2);
    bool passed = false;
    struct {
        bool broken = true, passed = true;
        std::size_t waiting = 0;
    } seen;
    DebugLoop dl([&]() -> aio::Task<> {
        aio::create_task([](aio::Barrier& b, bool& p) -> aio::Task<> {
            (void)co_await b.wait();
            p = true;
        }(barrier, passed));
        co_return;
    });
    const std::string error = aio_test::runtime_error_of([&] { barrier.abort(); });
    dl.finish([&] {
        seen.broken = barrier.broken();
        seen.passed = passed;
        seen.waiting = barrier.n_waiting();
    });
    REQUIRE_THAT(error, Catch::Contains(foreign_thread));
    REQUIRE_FALSE(seen.broken);
    REQUIRE_FALSE(seen.passed);
    REQUIRE(seen.waiting == 1);
    REQUIRE(dl.run_error().empty());
}

TEST_CASE("5.11 debug loop: Event::clear() from another thread throws",
          "[hardening][threads][debug][sync]") {
    aio::Event ev;
    bool woke = false;
    struct {
        bool woke = true, is_set = true;
    } seen;
    DebugLoop dl([&]() -> aio::Task<> {
        aio::create_task(wait_event(ev, woke)); // binds the event to the loop
        co_return;
    });
    const std::string error = aio_test::runtime_error_of([&] { ev.clear(); });
    dl.finish([&] {
        seen.woke = woke;
        seen.is_set = ev.is_set();
    });
    REQUIRE_THAT(error, Catch::Contains(foreign_thread));
    REQUIRE_FALSE(seen.woke);
    REQUIRE_FALSE(seen.is_set);
    REQUIRE(dl.run_error().empty());
}

// ================================================================ 7. any awaitable composes

namespace {
using aio_test::LoopThread;
} // namespace

TEST_CASE("7.8 run_coroutine_threadsafe(aio::sleep(1ms), loop)", "[hardening][threads][compose]") {
    LoopThread lt;
    std::future<void> done = aio::run_coroutine_threadsafe(aio::sleep(1ms), lt.loop());
    REQUIRE(done.wait_for(5s) == std::future_status::ready);
    lt.stop();
    REQUIRE_NOTHROW(done.get());
}

// ================================================================ 9. the test clock and executors

TEST_CASE("9.7 the test clock does not jump while to_thread work is running",
          "[hardening][threads][virtual]") {
    auto body = []() -> aio::Task<int> {
        co_return co_await aio::wait_for(aio::to_thread([] {
                                             std::this_thread::sleep_for(30ms);
                                             return 5;
                                         }),
                                         1s);
    };
    int value = 0;
    std::string error;
    try {
        value = aio::run(body(), aio_test::virtual_run());
    } catch (...) {
        error = aio_test::describe(std::current_exception());
    }
    INFO("error: " << error);
    REQUIRE(value == 5);
}
