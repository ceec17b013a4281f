// The smallest aio program: what a user writes after find_package(aio).
#include <aio/aio.hpp>

#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;

namespace {

aio::Task<int> main_task() {
    co_await aio::sleep(0s); // one trip through the event loop
    co_return 42;
}

} // namespace

int main() {
    const int answer = aio::run(main_task());
    std::printf("aio %d.%d.%d via %s: answer = %d\n", AIO_VERSION_MAJOR, AIO_VERSION_MINOR,
                AIO_VERSION_PATCH, AIO_CONSUMER_MODE, answer);
    return answer == 42 ? 0 : 1;
}
