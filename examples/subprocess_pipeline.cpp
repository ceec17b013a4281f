// subprocess_pipeline.cpp — `ls DIR | grep PATTERN | wc -l` run as three children whose pipes
// are connected by aio tasks (no shell). The asyncio version:
//
//     ls = await asyncio.create_subprocess_exec("ls", d, stdout=PIPE)
//     grep = await asyncio.create_subprocess_exec("grep", pattern, stdin=PIPE, stdout=PIPE)
//     wc = await asyncio.create_subprocess_exec("wc", "-l", stdin=PIPE, stdout=PIPE)
//     async def pump(src, dst):
//         while data := await src.read(65536):
//             dst.write(data)
//             await dst.drain()
//         dst.close()
//     await asyncio.gather(pump(ls.stdout, grep.stdin), pump(grep.stdout, wc.stdin))
//     count = (await wc.stdout.read()).decode().strip()
//
// `subprocess_pipeline DIR PATTERN` counts DIR's entries that match PATTERN (a grep regular
// expression). Without arguments it makes a directory with five files and counts the C++
// sources in it.
//
// Output without arguments (the directory's name varies):
//     $ ls /tmp/aio-pipeline-Ab12Cd | grep '\.cpp$' | wc -l
//     2 matching entries
//     ls exited 0, grep exited 0, wc exited 0

#include <aio/aio.hpp>

#include <fmt/core.h>

#include <unistd.h>

#include <cstdio>
#include <stdlib.h>
#include <string>

namespace {

/// Copies everything from one child's stdout to another's stdin, then closes that stdin (the
/// next child's end of file).
aio::Task<> pump(aio::StreamReader from, aio::StreamWriter to) {
    for (;;) {
        std::string data = co_await from.read(65536);
        if (data.empty())
            break;
        to.write(std::move(data));
        co_await to.drain();
    }
    to.close();
    co_await to.wait_closed();
}

aio::Task<> pipeline(std::string dir, std::string pattern) {
    using aio::PIPE;
    aio::Process ls =
        co_await aio::create_subprocess_exec("ls", dir, aio::ProcessOptions{.stdout_ = PIPE});
    aio::Process grep = co_await aio::create_subprocess_exec(
        "grep", pattern, aio::ProcessOptions{.stdin_ = PIPE, .stdout_ = PIPE});
    aio::Process wc = co_await aio::create_subprocess_exec(
        "wc", "-l", aio::ProcessOptions{.stdin_ = PIPE, .stdout_ = PIPE});

    fmt::print("$ ls {} | grep '{}' | wc -l\n", dir, pattern);
    co_await aio::gather(pump(*ls.stdout_, *grep.stdin_), pump(*grep.stdout_, *wc.stdin_));
    std::string count = co_await wc.stdout_->read();
    while (!count.empty() && (count.back() == '\n' || count.front() == ' '))
        count.erase(count.back() == '\n' ? count.size() - 1 : 0, 1); // BSD wc pads with spaces
    fmt::print("{} matching entries\n", count);

    const int ls_code = co_await ls.wait();
    const int grep_code = co_await grep.wait(); // 1: nothing matched
    const int wc_code = co_await wc.wait();
    fmt::print("ls exited {}, grep exited {}, wc exited {}\n", ls_code, grep_code, wc_code);
}

} // namespace

int main(int argc, char** argv) {
    if (argc == 3) {
        aio::run(pipeline(argv[1], argv[2]));
        return 0;
    }
    if (argc != 1) {
        fmt::print(stderr, "usage: {} [DIR PATTERN]\n", argv[0]);
        return 2;
    }
    char templ[] = "/tmp/aio-pipeline-XXXXXX";
    const std::string dir = ::mkdtemp(templ);
    const char* files[] = {"main.cpp", "util.cpp", "util.hpp", "README.md", "notes.txt"};
    for (const char* file : files)
        std::fclose(std::fopen((dir + "/" + file).c_str(), "w"));
    aio::run(pipeline(dir, "\\.cpp$"));
    for (const char* file : files)
        ::unlink((dir + "/" + file).c_str());
    ::rmdir(dir.c_str());
}
