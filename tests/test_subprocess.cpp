// aio::create_subprocess_exec / create_subprocess_shell and aio::Process (subprocess.hpp).
// Every case counts the process's fds back to its baseline and checks that each child it
// started is gone from /proc (reaped: no zombie) when it ends; none runs longer than a few
// seconds of real time.
#include "catch.hpp"
#include "io_test_util.hpp"
#include "stream_test_util.hpp"
#include "test_util.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <spawn.h>
#include <sstream>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using aio_test::io::run_bounded;
using aio_test::streams::registrations;

namespace {

/// The state letter of /proc/<pid>/stat ('R', 'S', 'Z' for a zombie...), or 0 once the process
/// is gone (reaped). Read instead of calling waitpid, which would steal the loop's child.
char process_state(int pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const std::size_t paren = text.rfind(')');
    return paren == std::string::npos || paren + 2 >= text.size() ? 0 : text[paren + 2];
}

/// Polls the loop until `pid` has been reaped (bounded by the test's watchdog).
aio::Task<> until_gone(int pid) {
    while (process_state(pid) != 0)
        co_await aio::sleep(1ms);
}

/// Bytes written by `pid` so far (/proc/<pid>/io's wchar), -1 if unknown.
long long bytes_written(int pid) {
    std::ifstream io("/proc/" + std::to_string(pid) + "/io");
    std::string key;
    long long value;
    while (io >> key >> value)
        if (key == "wchar:")
            return value;
    return -1;
}

/// A temporary directory, removed (with the files the test put in it) at scope end.
struct TempDir {
    TempDir() {
        char templ[] = "/tmp/aio-subprocess-XXXXXX";
        path = ::mkdtemp(templ);
    }
    ~TempDir() {
        for (const std::string& file : files)
            ::unlink(file.c_str());
        ::rmdir(path.c_str());
    }
    std::string add(const std::string& name, const std::string& content, mode_t mode) {
        const std::string file = path + "/" + name;
        std::ofstream(file) << content;
        ::chmod(file.c_str(), mode);
        files.push_back(file);
        return file;
    }
    std::string path;
    std::vector<std::string> files;
};

/// Puts the child watch mode back at scope end.
struct WatchMode {
    explicit WatchMode(aio::detail::ChildWatchMode mode) {
        aio::detail::child_watch_mode.store(mode);
    }
    ~WatchMode() { aio::detail::child_watch_mode.store(aio::detail::ChildWatchMode::automatic); }
};

/// Runs the task `make_body()` returns on a loop of its own, then checks that it left no
/// registration but the loop's own (`registrations_left`: its wake-up fd, and the signal pipe
/// when SIGCHLD was watched) and, once the loop is gone, no fd.
template <class F>
auto run_counted(F make_body, std::size_t registrations_left = 1,
                 std::chrono::milliseconds limit = 20s) {
    const int fds = aio_test::open_fd_count();
    auto result = [&] {
        aio::EventLoop loop;
        auto value = run_bounded(loop, make_body(), limit);
        CHECK(registrations(loop) == registrations_left);
        loop.close();
        return value;
    }();
    CHECK(aio_test::open_fd_count() == fds);
    return result;
}

/// Exit codes, signals and communicate — the cases both watch modes must get right.
aio::Task<std::vector<std::string>> basic_cases() {
    std::vector<std::string> log;
    {
        aio::Process p = co_await aio::create_subprocess_exec(
            "echo", "hello", aio::ProcessOptions{.stdout_ = aio::PIPE});
        auto [out, err] = co_await p.communicate();
        log.push_back(out + "|" + err + "|" + std::to_string(*p.returncode()));
    }
    {
        aio::Process p = co_await aio::create_subprocess_shell(
            "echo out; echo err >&2; exit 3",
            aio::ProcessOptions{.stdout_ = aio::PIPE, .stderr_ = aio::PIPE});
        auto [out, err] = co_await p.communicate();
        log.push_back(out + "|" + err + "|" + std::to_string(co_await p.wait()));
    }
    {
        aio::Process p = co_await aio::create_subprocess_shell(
            "echo a; echo b >&2",
            aio::ProcessOptions{.stdout_ = aio::PIPE, .stderr_ = aio::STDOUT});
        auto [out, err] = co_await p.communicate();
        log.push_back(out + "|" + err + "|" + std::to_string(*p.returncode()));
    }
    {
        aio::Process p = co_await aio::create_subprocess_exec(
            "cat", aio::ProcessOptions{.stdin_ = aio::PIPE, .stdout_ = aio::PIPE});
        auto [out, err] = co_await p.communicate("to cat and back");
        log.push_back(out + "|" + std::to_string(*p.returncode()));
    }
    {
        aio::Process p = co_await aio::create_subprocess_exec("sleep", "30");
        log.push_back(p.returncode() ? "exited?" : "running");
        p.terminate();
        log.push_back(std::to_string(co_await p.wait()));
        p.kill(); // reaped: nothing happens
        log.push_back(std::to_string(co_await p.wait()));
    }
    {
        aio::Process p = co_await aio::create_subprocess_exec("sleep", "30");
        p.kill();
        log.push_back(std::to_string(co_await p.wait()));
    }
    co_return log;
}

const std::vector<std::string> basic_expected{
    "hello\n||0", "out\n|err\n|3", "a\nb\n||0", "to cat and back|0", "running", "-15", "-15", "-9"};

} // namespace

TEST_CASE("subprocess: communicate returns what the child wrote, and returncode is the exit "
          "status, or minus the signal that killed it",
          "[subprocess]") {
    REQUIRE(run_counted(basic_cases) == basic_expected);
}

TEST_CASE("subprocess: a program that cannot be started throws std::system_error in the "
          "parent, bad options throw ValueError, and neither leaves a child or an fd",
          "[subprocess]") {
    TempDir dir;
    const std::string not_executable = dir.add("script.sh", "#!/bin/sh\necho hi\n", 0644);
    auto body = [&]() -> aio::Task<std::vector<std::string>> {
        std::vector<std::string> log;
        auto expect_system_error = [&](aio::Task<aio::Process> start) -> aio::Task<> {
            try {
                co_await std::move(start);
                log.push_back("started?");
            } catch (const std::system_error& e) {
                log.push_back(std::to_string(e.code().value()) + " " + e.what());
            }
        };
        co_await expect_system_error(aio::create_subprocess_exec("aio-no-such-program", "x"));
        co_await expect_system_error(aio::create_subprocess_exec(not_executable));
        const aio::Environment path_env{{"PATH", dir.path}};
        co_await expect_system_error(
            aio::create_subprocess_exec("script.sh", aio::ProcessOptions{.env = path_env}));
        co_await expect_system_error(
            aio::create_subprocess_exec("true", aio::ProcessOptions{.cwd = "/aio/no/such/dir"}));

        auto expect_value_error = [&](aio::Task<aio::Process> start) -> aio::Task<> {
            try {
                co_await std::move(start);
                log.push_back("started?");
            } catch (const aio::ValueError& e) {
                log.push_back(e.what());
            }
        };
        const std::vector<std::string> no_argv;
        co_await expect_value_error(aio::create_subprocess_exec(no_argv));
        co_await expect_value_error(
            aio::create_subprocess_exec("true", aio::ProcessOptions{.stdin_ = aio::STDOUT}));
        co_await expect_value_error(
            aio::create_subprocess_exec("true", aio::ProcessOptions{.stdout_ = -5}));
        aio::Process p = co_await aio::create_subprocess_exec("true");
        try {
            co_await p.communicate("input");
        } catch (const aio::ValueError& e) {
            log.push_back(e.what());
        }
        log.push_back(std::to_string(co_await p.wait()));
        aio::Process moved = std::move(p);
        try {
            p.kill();
        } catch (const aio::RuntimeError& e) {
            log.push_back(e.what());
        }
        co_return log;
    };
    const std::vector<std::string> log = run_counted(body);
    REQUIRE(log.size() == 10);
    CHECK(log[0].rfind("2 create_subprocess_exec: cannot run \"aio-no-such-program\" (looked for "
                       "it in PATH=",
                       0) == 0);
    CHECK(log[0].find("): No such file or directory") != std::string::npos);
    CHECK(log[1] ==
          "13 create_subprocess_exec: cannot run \"" + not_executable + "\": Permission denied");
    CHECK(log[2] == "13 create_subprocess_exec: cannot run \"script.sh\" (looked for it in PATH=" +
                        dir.path + "): Permission denied");
    CHECK(log[3].rfind("2 create_subprocess_exec: cannot run \"/", 0) == 0); // PATH's true
    CHECK(log[3].ends_with("/true\" in \"/aio/no/such/dir\": No such file or directory"));
    CHECK(log[4] == "create_subprocess_exec: argv is empty; give at least the program");
    CHECK(log[5] == "create_subprocess_exec: stdin_ = aio::STDOUT: only stderr_ can go where "
                    "stdout goes");
    CHECK(log[6] == "create_subprocess_exec: stdout_ = -5: not an fd; use aio::PIPE, "
                    "aio::DEVNULL, aio::INHERIT or an open fd");
    CHECK(log[7] == "communicate(input): the child's stdin is not a pipe; start it with .stdin_ "
                    "= aio::PIPE to send it input");
    CHECK(log[8] == "0");
    CHECK(log[9] == "kill() on an empty Process (moved from?)");
    // No child of this process is left, running or zombie.
    errno = 0;
    CHECK(::waitpid(-1, nullptr, WNOHANG) == -1);
    CHECK(errno == ECHILD);
}

TEST_CASE("subprocess: communicate moves 10 MiB each way through cat without deadlock",
          "[subprocess]") {
    std::string input(10 << 20, '\0');
    std::uint32_t x = 12345;
    for (char& c : input) {
        x = x * 1103515245u + 12345u;
        c = static_cast<char>(x >> 24);
    }
    auto body = [&]() -> aio::Task<std::string> {
        aio::Process p = co_await aio::create_subprocess_exec(
            "cat", aio::ProcessOptions{.stdin_ = aio::PIPE, .stdout_ = aio::PIPE});
        auto [out, err] = co_await aio::wait_for(p.communicate(input), 30s);
        CHECK(co_await p.wait() == 0);
        co_return std::move(out);
    };
    const std::string out = run_counted(body, 1, 40s);
    REQUIRE(out.size() == input.size());
    REQUIRE(out == input);
}

TEST_CASE("subprocess: stdout_->readline() streams lines as the child writes them",
          "[subprocess]") {
    auto body = [&]() -> aio::Task<std::vector<std::string>> {
        std::vector<std::string> log;
        aio::Process p = co_await aio::create_subprocess_shell(
            "echo one; read x; echo \"got $x\"",
            aio::ProcessOptions{.stdin_ = aio::PIPE, .stdout_ = aio::PIPE});
        // The child waits for our line: "one" can only arrive while it runs.
        log.push_back(co_await p.stdout_->readline());
        p.stdin_->write("two\n");
        co_await p.stdin_->drain();
        log.push_back(co_await p.stdout_->readline());
        log.push_back(co_await p.stdout_->readline()); // EOF
        log.push_back(std::to_string(co_await p.wait()));
        co_return log;
    };
    REQUIRE(run_counted(body) == std::vector<std::string>{"one\n", "got two\n", "", "0"});
}

TEST_CASE("subprocess: wait() returns when the child exits even though a grandchild still "
          "holds its stdout",
          "[subprocess]") {
    int grandchild = -1;
    auto body = [&]() -> aio::Task<std::vector<std::string>> {
        std::vector<std::string> log;
        aio::Process p = co_await aio::create_subprocess_shell(
            "sleep 30 & echo $!; exit 4", aio::ProcessOptions{.stdout_ = aio::PIPE});
        grandchild = std::stoi(co_await p.stdout_->readline());
        const auto t0 = aio::Clock::now();
        log.push_back(std::to_string(co_await aio::wait_for(p.wait(), 10s)));
        log.push_back(aio::Clock::now() - t0 < 5s ? "promptly" : "late");
        // The grandchild still holds the pipe: no end of file yet.
        try {
            co_await aio::wait_for(p.stdout_->read(), 50ms);
            log.push_back("eof?");
        } catch (const aio::TimeoutError&) {
            log.push_back("pipe still open");
        }
        ::kill(grandchild, SIGKILL);
        log.push_back("[" + co_await aio::wait_for(p.stdout_->read(), 10s) + "]");
        co_return log;
    };
    REQUIRE(run_counted(body) ==
            std::vector<std::string>{"4", "promptly", "pipe still open", "[]"});
}

TEST_CASE("subprocess: a cancelled wait() or communicate(), and a dropped Process, leave no "
          "zombie and no registration",
          "[subprocess]") {
    auto body = [&]() -> aio::Task<std::vector<std::string>> {
        std::vector<std::string> log;
        {
            aio::Process p = co_await aio::create_subprocess_exec(
                "cat", aio::ProcessOptions{.stdin_ = aio::PIPE, .stdout_ = aio::DEVNULL});
            try {
                co_await aio::wait_for(p.wait(), 20ms);
            } catch (const aio::TimeoutError&) {
                log.push_back("wait timed out");
            }
            const int pid = p.pid();
            p.stdin_->close(); // cat sees EOF and exits; nobody waits for it
            co_await until_gone(pid);
            log.push_back("reaped, returncode " + std::to_string(*p.returncode()));
        }
        {
            aio::Process p = co_await aio::create_subprocess_exec(
                "sleep", "30", aio::ProcessOptions{.stdout_ = aio::PIPE});
            try {
                co_await aio::wait_for(p.communicate(), 20ms);
            } catch (const aio::TimeoutError&) {
                log.push_back("communicate timed out");
            }
            p.kill();
            log.push_back(std::to_string(co_await p.wait()));
            log.push_back(process_state(p.pid()) == 0 ? "gone" : "zombie");
        }
        int dropped;
        {
            aio::Process p = co_await aio::create_subprocess_exec("sleep", "30");
            dropped = p.pid();
        } // killed; the loop reaps it
        co_await until_gone(dropped);
        log.push_back("dropped child reaped");
        co_return log;
    };
    REQUIRE(run_counted(body) == std::vector<std::string>{"wait timed out", "reaped, returncode 0",
                                                          "communicate timed out", "-9", "gone",
                                                          "dropped child reaped"});
}

TEST_CASE("subprocess: a loop that closes reaps the child it killed, and a Process that outlives "
          "its loop kills and reaps its child when it goes",
          "[subprocess]") {
    const int fds = aio_test::open_fd_count();
    int killed_at_close = -1;
    aio::Process survivor;
    {
        aio::EventLoop loop;
        auto body = [&]() -> aio::Task<> {
            survivor = co_await aio::create_subprocess_exec("sleep", "30");
            aio::Process dropped = co_await aio::create_subprocess_exec("sleep", "30");
            killed_at_close = dropped.pid();
        };
        run_bounded(loop, body());
        {
            // Waiting for it from another loop is refused: its exit is noticed on its own.
            aio::EventLoop other;
            CHECK_THROWS_WITH(other.run_until_complete([&]() -> aio::Task<int> {
                co_return co_await survivor.wait();
            }()),
                              "wait(): pid " + std::to_string(survivor.pid()) +
                                  " was started by another event loop; wait for it there (its "
                                  "exit is noticed and reported on that loop only)");
        }
        loop.close();
        CHECK(process_state(killed_at_close) == 0);
        CHECK(process_state(survivor.pid()) != 0); // still running: its Process lives
        CHECK(!survivor.returncode());
        aio::EventLoop another;
        CHECK_THROWS_WITH(another.run_until_complete(
                              [&]() -> aio::Task<int> { co_return co_await survivor.wait(); }()),
                          "wait(): pid " + std::to_string(survivor.pid()) +
                              " was started by an event loop that is closed; nothing watches it "
                              "any more (its Process kills and reaps it when it goes)");
    }
    const int pid = survivor.pid();
    survivor = aio::Process();
    CHECK(process_state(pid) == 0);
    REQUIRE(aio_test::open_fd_count() == fds);
}

TEST_CASE("subprocess: 200 concurrent short children are all reaped with their own exit "
          "codes",
          "[subprocess]") {
    auto one = [](int i) -> aio::Task<int> {
        aio::Process p = co_await aio::create_subprocess_exec(
            i % 2 ? "true" : "false", aio::ProcessOptions{.stdout_ = aio::DEVNULL});
        co_return co_await p.wait();
    };
    auto body = [&]() -> aio::Task<std::vector<int>> {
        std::vector<aio::Task<int>> tasks;
        for (int i = 0; i < 200; ++i)
            tasks.push_back(one(i));
        co_return co_await aio::gather(std::move(tasks));
    };
    const std::vector<int> codes = run_counted(body, 1, 60s);
    REQUIRE(codes.size() == 200);
    for (int i = 0; i < 200; ++i)
        REQUIRE(codes[i] == (i % 2 ? 0 : 1));
    errno = 0;
    CHECK(::waitpid(-1, nullptr, WNOHANG) == -1);
    CHECK(errno == ECHILD);
}

TEST_CASE("subprocess: kill() ends a child blocked writing to a full pipe", "[subprocess]") {
    auto body = [&]() -> aio::Task<std::vector<std::string>> {
        std::vector<std::string> log;
        aio::Process p =
            co_await aio::create_subprocess_exec("yes", aio::ProcessOptions{.stdout_ = aio::PIPE});
        // Until it has filled the pipe (64 KiB) and is blocked in write; /proc/<pid>/io may
        // be missing (no task I/O accounting): then just give it time.
        const auto t0 = aio::Clock::now();
        while (bytes_written(p.pid()) < 65536 && aio::Clock::now() - t0 < 5s)
            co_await aio::sleep(bytes_written(p.pid()) < 0 ? 100ms : 1ms);
        log.push_back(p.returncode() ? "exited?" : "blocked");
        p.kill();
        log.push_back(std::to_string(co_await aio::wait_for(p.wait(), 10s)));
        const std::string data = co_await p.stdout_->read(8);
        log.push_back(data);
        co_return log;
    };
    REQUIRE(run_counted(body) == std::vector<std::string>{"blocked", "-9", "y\ny\ny\ny\n"});
}

TEST_CASE("subprocess: no fd but the requested ones reaches the child", "[subprocess]") {
    // Inheritable fds the program left open (no close-on-exec): the child must not get them.
    const int leaky = ::open("/dev/null", O_RDONLY);
    REQUIRE(::dup2(leaky, 57) == 57);
    int sockets[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, sockets) == 0);
    auto body = [&]() -> aio::Task<std::string> {
        aio::Process p = co_await aio::create_subprocess_exec(
            "ls", "-l", "/proc/self/fd/",
            aio::ProcessOptions{.stdin_ = aio::DEVNULL, .stdout_ = aio::PIPE});
        auto [out, err] = co_await p.communicate();
        CHECK(co_await p.wait() == 0);
        co_return std::move(out);
    };
    const std::string listing = run_counted(body);
    std::set<int> seen;
    std::istringstream lines(listing);
    for (std::string line; std::getline(lines, line);) {
        const std::size_t arrow = line.find(" -> ");
        if (arrow == std::string::npos)
            continue;
        const std::size_t name = line.rfind(' ', arrow - 1) + 1;
        const int fd = std::stoi(line.substr(name, arrow - name));
        const std::string target = line.substr(arrow + 4);
        seen.insert(fd);
        INFO(line);
        if (fd == 0)
            CHECK(target == "/dev/null");
        else if (fd == 1)
            CHECK(target.rfind("pipe:", 0) == 0);
        else if (fd > 2)
            CHECK(target.rfind("/proc/", 0) == 0); // ls's own handle on the directory
    }
    INFO(listing);
    CHECK(seen.count(0) == 1);
    CHECK(seen.count(1) == 1);
    CHECK(seen.count(2) == 1);
    CHECK(seen.count(57) == 0);
    CHECK(seen.size() <= 4);
    ::close(leaky);
    ::close(57);
    ::close(sockets[0]);
    ::close(sockets[1]);
}

TEST_CASE("subprocess: cwd, env (PATH searched in it, relative entries from cwd, a later pair "
          "wins) and an fd as stdout",
          "[subprocess]") {
    TempDir dir;
    const std::string log_file = dir.add("out.txt", "", 0644);
    dir.add("tool.sh", "#!/bin/sh\necho tool ran\n", 0755);
    auto body = [&]() -> aio::Task<std::string> {
        const aio::Environment env{{"FOO", "bar"}, {"FOO", "baz"}};
        aio::Process p = co_await aio::create_subprocess_exec(
            "sh", "-c", "pwd; echo \"$FOO\"; echo \"${HOME-unset}\"",
            aio::ProcessOptions{.stdout_ = aio::PIPE, .cwd = dir.path, .env = env});
        auto [out, err] = co_await p.communicate();
        // A relative PATH entry is searched in the child's cwd, not in ours.
        const aio::Environment relative_path{{"PATH", "."}};
        aio::Process tool = co_await aio::create_subprocess_exec(
            "tool.sh",
            aio::ProcessOptions{.stdout_ = aio::PIPE, .cwd = dir.path, .env = relative_path});
        out += (co_await tool.communicate()).out;
        const int file = ::open(log_file.c_str(), O_WRONLY | O_CLOEXEC);
        aio::Process q = co_await aio::create_subprocess_shell(
            "echo to the file", aio::ProcessOptions{.stdout_ = file});
        ::close(file); // the child has its own copy
        co_await q.wait();
        co_return out;
    };
    REQUIRE(run_counted(body) == dir.path + "\nbaz\nunset\ntool ran\n");
    std::string line;
    std::getline(std::ifstream(log_file), line);
    REQUIRE(line == "to the file");
    const aio::Environment here = aio::current_environment();
    bool has_path = false;
    for (const auto& [key, value] : here)
        has_path = has_path || (key == "PATH" && value == ::getenv("PATH"));
    REQUIRE(has_path);
}

TEST_CASE("subprocess: with SIGCHLD ignored, wait() still gets the exit status "
          "(asyncio bpo-32115 hangs) and the disposition comes back",
          "[subprocess]") {
    struct sigaction ignore {
    }, saved{};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    ::sigaction(SIGCHLD, &ignore, &saved);
    auto body = [&]() -> aio::Task<std::vector<int>> {
        std::vector<int> codes;
        for (int code : {5, 0}) {
            aio::Process p = co_await aio::create_subprocess_shell("exit " + std::to_string(code));
            codes.push_back(co_await aio::wait_for(p.wait(), 10s));
        }
        // Overlapping: the second starts while the first keeps aio's handler installed, and
        // outlives it (SIG_IGN must not come back under it).
        aio::Process first = co_await aio::create_subprocess_shell("sleep 0.05; exit 3");
        aio::Process second = co_await aio::create_subprocess_shell("sleep 0.3; exit 7");
        codes.push_back(co_await aio::wait_for(first.wait(), 10s));
        codes.push_back(co_await aio::wait_for(second.wait(), 10s));
        co_return codes;
    };
    const std::vector<int> codes = run_counted(body, 2) /* and the signal pipe */;
    const bool ignored_again = aio_test::io::current_handler(SIGCHLD) == SIG_IGN;
    ::sigaction(SIGCHLD, &saved, nullptr);
    REQUIRE(codes == std::vector<int>{5, 0, 3, 7});
    REQUIRE(ignored_again);
}

TEST_CASE("subprocess: the SIGCHLD watcher (macOS/BSD, Linux < 5.3) gets the same results "
          "and never reaps another part of the program's children",
          "[subprocess]") {
    WatchMode fallback(aio::detail::ChildWatchMode::sigchld);
    // A child started without aio: its status belongs to whoever started it.
    pid_t foreign = -1;
    char sh[] = "/bin/sh", c[] = "-c", cmd[] = "sleep 0.05; exit 7";
    char* argv[] = {sh, c, cmd, nullptr};
    REQUIRE(::posix_spawn(&foreign, "/bin/sh", nullptr, nullptr, argv, environ) == 0);
    auto body = [&]() -> aio::Task<std::vector<std::string>> {
        std::vector<std::string> log = co_await basic_cases();
        // The foreign child exits while the loop watches SIGCHLD for its own.
        aio::Process p = co_await aio::create_subprocess_exec("sleep", "0.2");
        log.push_back(std::to_string(co_await p.wait()));
        co_return log;
    };
    std::vector<std::string> expected = basic_expected;
    expected.push_back("0");
    REQUIRE(run_counted(body, 2) /* and the signal pipe */ == expected);
    int status = 0;
    REQUIRE(::waitpid(foreign, &status, 0) == foreign);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 7);
}
