// The aio side of bench/subprocess/run_spawn.sh:
//   spawn_aio spawn N K     start N children of `true`, K at a time, each awaited (wait());
//                           prints "children_per_s=<x>"
//   spawn_aio pipe BYTES    BYTES through `cat` with communicate(); prints "mib_per_s=<x>"
#include <aio/aio.hpp>

#include <fmt/core.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Seconds = std::chrono::duration<double>;

aio::Task<> spawn_some(int count) {
    for (int i = 0; i < count; ++i) {
        aio::Process p = co_await aio::create_subprocess_exec("true");
        if (co_await p.wait() != 0)
            std::abort();
    }
}

aio::Task<> spawn(int n, int k) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<aio::Task<>> workers;
    for (int w = 0; w < k; ++w)
        workers.push_back(spawn_some(n / k + (w < n % k ? 1 : 0)));
    co_await aio::gather(std::move(workers));
    const double s = Seconds(std::chrono::steady_clock::now() - t0).count();
    fmt::print("children_per_s={:.0f}\n", n / s);
}

aio::Task<> pipe(std::size_t bytes) {
    std::string input(bytes, 'x');
    const auto t0 = std::chrono::steady_clock::now();
    aio::Process p = co_await aio::create_subprocess_exec(
        "cat", aio::ProcessOptions{.stdin_ = aio::PIPE, .stdout_ = aio::PIPE});
    auto [out, err] = co_await p.communicate(std::move(input));
    const double s = Seconds(std::chrono::steady_clock::now() - t0).count();
    if (out.size() != bytes || co_await p.wait() != 0)
        std::abort();
    fmt::print("mib_per_s={:.0f}\n", bytes / s / (1 << 20));
}

} // namespace

int main(int argc, char** argv) {
    const std::string_view mode = argc > 1 ? argv[1] : "";
    if (mode == "spawn" && argc == 4)
        aio::run(spawn(std::atoi(argv[2]), std::atoi(argv[3])));
    else if (mode == "pipe" && argc == 3)
        aio::run(pipe(std::strtoull(argv[2], nullptr, 10)));
    else {
        fmt::print(stderr, "usage: {} spawn N K | pipe BYTES\n", argv[0]);
        return 2;
    }
}
