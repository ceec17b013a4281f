// Helpers every test file may share: the event log tasks record into, and test-clock options.
#pragma once

#include <aio/aio.hpp>

#include <chrono>
#include <string>
#include <vector>

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

} // namespace aio_test
