// Includes only the loop: tests/include_check/check_loop_only.cmake asserts that this pulls in
// no executor, combinator or stream header (what a header that only needs the loop may cost).
#include <aio/event_loop.hpp>

int main() {
    aio::EventLoop loop;
    loop.close();
}
