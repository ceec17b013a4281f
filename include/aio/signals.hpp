// aio signals — asyncio's loop.add_signal_handler / remove_signal_handler, and an awaitable
// that asyncio lacks:
//
//   loop.add_signal_handler(SIGTERM, [&] { server.close(); });
//   int sig = co_await aio::wait_signal(SIGINT, SIGTERM);
//
// Both are clients of the loop's signal driver (detail/signal_driver.hpp): the OS handler only
// records the signal and writes to the loop's pipe; handlers and waits run on the loop as
// ordinary callbacks, never inside the OS handler. Several loops, in several threads, may each
// handle signals; every loop watching a signal is told when it arrives.
#pragma once

#include <aio/awaiter.hpp>
#include <aio/detail/callback.hpp>
#include <aio/detail/signal_driver.hpp>
#include <aio/errors.hpp>
#include <aio/event_loop.hpp>
#include <aio/run.hpp>

#include <csignal>
#include <cstddef>
#include <cstdint>
#include <string>

namespace aio {

namespace detail {

/// ValueError for a signal number no handler can catch (out of range, SIGKILL, SIGSTOP).
inline void check_catchable(int signo, const char* what) {
    if (signo < 1 || signo > SignalTable::max_signal || signo == SIGKILL || signo == SIGSTOP)
        throw ValueError(std::string(what) + "(" + std::to_string(signo) +
                         "): not a signal a handler can catch (1.." +
                         std::to_string(SignalTable::max_signal) +
                         ", and neither SIGKILL nor SIGSTOP)");
}

/// The awaitable wait_signal returns: watches its signals while the task waits, and stops
/// watching once one arrives, the task is cancelled, or the loop closes.
template <std::size_t N>
class [[nodiscard]] SignalWait final : public CancellableAwaiter<SignalWait<N>> {
public:
    explicit SignalWait(const int (&signals)[N]) {
        for (std::size_t i = 0; i < N; ++i) {
            check_catchable(signals[i], "wait_signal");
            signals_[i] = signals[i];
        }
    }
    SignalWait(SignalWait&& other) noexcept : CancellableAwaiter<SignalWait<N>>() {
        for (std::size_t i = 0; i < N; ++i)
            signals_[i] = other.signals_[i];
    }
    ~SignalWait() { disarm(); }

    void arm() {
        EventLoop* loop = tls_running_loop;
        driver_ = &LoopAccess::signals(*loop);
        try {
            for (std::size_t i = 0; i < N; ++i)
                ids_[i] = driver_->watch(signals_[i], make_callback([this, signo = signals_[i]] {
                                             if (!arrived_)
                                                 arrived_ = signo;
                                             this->wake();
                                         }));
        } catch (...) {
            disarm();
            throw;
        }
    }
    void disarm() noexcept {
        if (!driver_)
            return;
        for (std::uint64_t& id : ids_)
            if (id)
                driver_->unwatch(std::exchange(id, 0));
        driver_ = nullptr;
    }
    /// The signal that arrived (the first, if several did).
    int result() noexcept {
        disarm();
        return arrived_;
    }

private:
    int signals_[N] = {};
    std::uint64_t ids_[N] = {};
    SignalDriver* driver_ = nullptr;
    int arrived_ = 0;
};

} // namespace detail

/// `int sig = co_await aio::wait_signal(SIGINT, SIGTERM)`: waits until one of the signals
/// arrives on the running loop and returns it (better than asyncio, which has only callbacks).
/// A signal that arrived before the wait began is not seen. Throws aio::ValueError for a signal
/// that cannot be caught. Cancellable: cancelling stops watching at once (the OS disposition
/// comes back when nothing else watches the signal).
template <class... More>
detail::SignalWait<1 + sizeof...(More)> wait_signal(int signo, More... more) {
    const int signals[] = {signo, static_cast<int>(more)...};
    return detail::SignalWait<1 + sizeof...(More)>(signals);
}

template <class F>
void EventLoop::add_signal_handler(int signo, F&& fn) {
    check_usable("add_signal_handler");
    detail::check_catchable(signo, "add_signal_handler");
    const std::uint64_t id =
        signal_driver_.watch(signo, detail::make_callback(std::forward<F>(fn)));
    if (const std::uint64_t old = std::exchange(signal_handlers_[signo], id))
        signal_driver_.unwatch(old);
    if (signo == SIGINT) // the program handles Ctrl-C itself: no "second Ctrl-C kills"
        detail::SignalTable::instance().set_escalation(SIGINT, false);
}

inline bool EventLoop::remove_signal_handler(int signo) {
    check_thread("remove_signal_handler");
    detail::check_catchable(signo, "remove_signal_handler");
    const std::uint64_t id = std::exchange(signal_handlers_[signo], 0);
    return id && signal_driver_.unwatch(id);
}

} // namespace aio
