// Lifetime-counting helper for the aio tests.
//
// Put a `Counted` local (or by-value parameter) inside a coroutine: it lives in
// the coroutine frame, so `Counted::live()` counts the frames that have not been
// destroyed yet. After an event loop is destroyed, `Counted::live()` must be 0.
#pragma once

#include <atomic>

namespace aio_test {

class Counted {
public:
    Counted() noexcept { counter().fetch_add(1, std::memory_order_relaxed); }
    Counted(const Counted&) noexcept { counter().fetch_add(1, std::memory_order_relaxed); }
    Counted(Counted&&) noexcept { counter().fetch_add(1, std::memory_order_relaxed); }
    Counted& operator=(const Counted&) noexcept = default;
    Counted& operator=(Counted&&) noexcept = default;
    ~Counted() { counter().fetch_sub(1, std::memory_order_relaxed); }

    // Number of Counted objects alive right now.
    static int live() noexcept { return counter().load(std::memory_order_relaxed); }

private:
    static std::atomic<int>& counter() noexcept {
        static std::atomic<int> n{0};
        return n;
    }
};

// Records the live count on construction, so a test can check that everything
// it created was freed, independently of what other tests left behind.
struct CountedBaseline {
    int at_start = Counted::live();
    int leaked() const noexcept { return Counted::live() - at_start; }
};

} // namespace aio_test
