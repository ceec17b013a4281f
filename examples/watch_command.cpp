// watch_command.cpp — run a command every N seconds, relay its output line by line as it
// comes, and kill it (with everything it started) if it overruns its time limit.
//
//   watch_command [--interval S] [--timeout S] [--count N] -- COMMAND [ARG...]
//
// Each run gets RUN=<number> in its environment. The child starts in a session of its own
// (.start_new_session), so an overrun kills its whole process group: killing only the shell
// would leave a `sleep` it started holding the output pipe.
//
// Without arguments it watches a small shell script three times, 0.3 s apart, with a 1 s
// limit; the second run hangs and is killed:
//     [run 1] working
//     [run 1] done
//     [run 1] exited 0
//     [run 2] working
//     [run 2] still running after 1000 ms: killed its process group (returncode -9)
//     [run 3] working
//     [run 3] done
//     [run 3] exited 0

#include <aio/aio.hpp>

#include <fmt/core.h>

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

using namespace std::chrono_literals;

namespace {

/// Prints each line of the child's output (stdout and stderr) as it arrives.
aio::Task<> relay_output(aio::StreamReader output, int run) {
    for (;;) {
        std::string line = co_await output.readline();
        if (line.empty())
            break;
        if (line.back() == '\n')
            line.pop_back();
        fmt::print("[run {}] {}\n", run, line);
    }
}

aio::Task<> run_once(std::vector<std::string> argv, int run, std::chrono::milliseconds limit) {
    aio::Environment env = aio::current_environment();
    env.emplace_back("RUN", std::to_string(run));
    aio::Process p = co_await aio::create_subprocess_exec(
        argv,
        aio::ProcessOptions{
            .stdout_ = aio::PIPE, .stderr_ = aio::STDOUT, .env = env, .start_new_session = true});
    const aio::Clock::time_point deadline = aio::Clock::now() + limit;
    bool overran = false;
    try {
        co_await aio::timeout_at(deadline, relay_output(*p.stdout_, run)); // until EOF
        fmt::print("[run {}] exited {}\n", run, co_await aio::timeout_at(deadline, p.wait()));
    } catch (const aio::TimeoutError&) {
        overran = true;
    }
    if (overran) {
        ::killpg(p.pid(), SIGKILL); // its session's process group: the shell and its children
        const int code = co_await p.wait();
        fmt::print("[run {}] still running after {} ms: killed its process group (returncode {})\n",
                   run, limit.count(), code);
    }
}

aio::Task<> watch(std::vector<std::string> argv, std::chrono::milliseconds interval,
                  std::chrono::milliseconds limit, int count) {
    const aio::Clock::time_point start = aio::Clock::now();
    for (int run = 1; count <= 0 || run <= count; ++run) {
        co_await aio::sleep(start + (run - 1) * interval - aio::Clock::now());
        co_await run_once(argv, run, limit);
    }
}

std::chrono::milliseconds seconds_arg(const char* text) {
    return std::chrono::milliseconds(static_cast<long long>(std::strtod(text, nullptr) * 1000));
}

} // namespace

int main(int argc, char** argv) {
    if (argc == 1) {
        const std::vector<std::string> script{
            "sh", "-c", "echo working; [ \"$RUN\" != 2 ] || sleep 30; echo done"};
        aio::run(watch(script, 300ms, 1000ms, 3));
        return 0;
    }
    std::chrono::milliseconds interval = 2s, limit = 10s;
    int count = 0; // for ever
    int i = 1;
    for (; i + 1 < argc && std::string_view(argv[i]) != "--"; i += 2) {
        const std::string_view option = argv[i];
        if (option == "--interval")
            interval = seconds_arg(argv[i + 1]);
        else if (option == "--timeout")
            limit = seconds_arg(argv[i + 1]);
        else if (option == "--count")
            count = std::atoi(argv[i + 1]);
        else
            break;
    }
    if (i >= argc - 1 || std::string_view(argv[i]) != "--" || limit <= 0ms) {
        fmt::print(stderr,
                   "usage: {} [--interval S] [--timeout S] [--count N] -- COMMAND [ARG...]\n",
                   argv[0]);
        return 2;
    }
    aio::run(watch(std::vector<std::string>(argv + i + 1, argv + argc), interval, limit, count));
}
