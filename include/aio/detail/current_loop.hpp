// aio::detail — which loops a thread has: the one running on it, the thread's current loop
// (aio::set_event_loop, aio::run) and the one whose close() is tearing task frames down.
// Plain thread-locals, read on hot paths without a function call.
#pragma once

#include <fmt/core.h>

#include <string>

namespace aio {
class EventLoop;
}

namespace aio::detail {

class LoopCore;

/// The loop running on this thread (run_until_complete / run_forever), or nullptr.
inline thread_local EventLoop* tls_running_loop = nullptr;
/// The same loop seen as its internals, for code that must not see the public class.
inline thread_local LoopCore* tls_running_core = nullptr;
/// The thread's current loop (set_event_loop); the running loop while one runs.
inline thread_local EventLoop* tls_current_loop = nullptr;
/// The loop whose close() is destroying task frames on this thread: where errors found by the
/// destructors it runs are reported.
inline thread_local LoopCore* tls_closing_core = nullptr;

/// How error messages name a loop: "event loop 0x55d0c1a2b2c0", the address fmt gives.
inline std::string loop_name(const EventLoop* loop) {
    return loop ? fmt::format("event loop {}", static_cast<const void*>(loop))
                : std::string("no event loop");
}

} // namespace aio::detail
