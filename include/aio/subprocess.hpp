// aio subprocesses — asyncio.create_subprocess_exec / create_subprocess_shell and Process.
//
//   aio::Process p = co_await aio::create_subprocess_exec(
//       "grep", "x", aio::ProcessOptions{.stdin_ = aio::PIPE, .stdout_ = aio::PIPE});
//   auto [out, err] = co_await p.communicate("a\nx\n");   // out == "x\n"
//   int code = co_await p.wait();                          // 0; -9 had it been killed
//
// A child is started with posix_spawn (detail/spawn.hpp): a program that cannot be run throws
// std::system_error (ENOENT, EACCES) here, in the parent; the child gets only the fds asked
// for (0..2), SIGPIPE / SIGCHLD / SIGXFSZ at their defaults and an empty signal mask (a signal
// the parent ignores otherwise stays ignored, as across any exec). Its exit is watched with a
// pidfd, or SIGCHLD where there is none (detail/child_process.hpp), and it is reaped as soon as
// it exits: wait() returns then, even while a grandchild still holds its pipes, and no zombie
// is left by a cancelled wait(). The pipes are the streams of streams.hpp.
#pragma once

#include <aio/detail/child_process.hpp>
#include <aio/detail/spawn.hpp>
#include <aio/detail/stream_transport.hpp>
#include <aio/errors.hpp>
#include <aio/event_loop.hpp>
#include <aio/gather.hpp>
#include <aio/run.hpp>
#include <aio/streams.hpp>
#include <aio/task.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace aio {

/// Where a child's stdin, stdout or stderr goes: aio::INHERIT (the parent's, the default),
/// aio::PIPE (a stream in Process), aio::DEVNULL, aio::STDOUT (stderr only: wherever stdout
/// goes), or an fd of the parent's (`.stdout_ = log_fd`; the child gets a duplicate).
class Stdio {
public:
    enum class Kind : std::uint8_t { inherit, pipe, devnull, stdout_, fd };
    constexpr Stdio() noexcept = default;
    constexpr Stdio(int fd) noexcept : kind_(Kind::fd), fd_(fd) {} // implicit: `.stdout_ = fd`
    constexpr explicit Stdio(Kind kind) noexcept : kind_(kind) {}
    constexpr Kind kind() const noexcept { return kind_; }
    constexpr int fd() const noexcept { return fd_; }

private:
    Kind kind_ = Kind::inherit;
    int fd_ = -1;
};

inline constexpr Stdio INHERIT{Stdio::Kind::inherit};
inline constexpr Stdio PIPE{Stdio::Kind::pipe};
inline constexpr Stdio DEVNULL{Stdio::Kind::devnull};
inline constexpr Stdio STDOUT{Stdio::Kind::stdout_};

/// A child's environment: NAME, value pairs (a later pair replaces an earlier one of the same
/// name). `aio::current_environment()` gives this process's, to extend.
using Environment = std::vector<std::pair<std::string, std::string>>;

/// This process's environment, as an aio::Environment.
template <class D = void> // compiled only where used
Environment current_environment() {
    Environment env;
    for (char** entry = environ; entry && *entry; ++entry) {
        const std::string_view text(*entry);
        const std::size_t eq = text.find('=');
        if (eq != std::string_view::npos)
            env.emplace_back(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
    }
    return env;
}

/// Options of create_subprocess_exec / create_subprocess_shell. Trivially destructible on
/// purpose: g++ 12 miscompiles a temporary aggregate with a non-trivial destructor inside a
/// co_await expression (`co_await create_subprocess_exec("ls", ProcessOptions{...})`), so cwd
/// and env are views, copied when create_subprocess_exec / _shell is called: what they view
/// only has to live until then.
struct ProcessOptions {
    /// An fd given here is duplicated for the child when the process starts (when the task
    /// create_subprocess_* returns runs): keep it open until then.
    Stdio stdin_ = INHERIT;
    Stdio stdout_ = INHERIT;
    Stdio stderr_ = INHERIT;
    /// The child's working directory (empty: the parent's). A relative program name with a
    /// '/', and a relative PATH entry, are taken relative to it (as Python's subprocess).
    std::string_view cwd = {};
    /// The child's whole environment (unset: the parent's), e.g. `.env = my_environment` (an
    /// aio::Environment). Its PATH, if any, is where a program name without '/' is looked for
    /// (as Python's subprocess).
    std::optional<std::span<const std::pair<std::string, std::string>>> env = std::nullopt;
    /// readline / readuntil on stdout_ / stderr_ look this far for their separator.
    std::size_t limit = detail::default_stream_limit;
    /// Run the child in a new session (setsid): it has no controlling terminal and a Ctrl-C
    /// in the parent's terminal does not reach it.
    bool start_new_session = false;
};
static_assert(std::is_trivially_destructible_v<ProcessOptions>);

/// What communicate() returns: everything the child wrote to its stdout and stderr pipes
/// (empty for one that is not aio::PIPE).
struct Output {
    std::string out;
    std::string err;
};

class Process;

namespace detail {

/// ProcessOptions with its views copied: what the spawn task keeps until it runs. (A template
/// so that only units that start processes instantiate what it holds.)
template <class D>
struct OwnedProcessOptions {
    explicit OwnedProcessOptions(const ProcessOptions& options)
        : stdio{options.stdin_, options.stdout_, options.stderr_}, cwd(options.cwd),
          env(options.env ? Environment(options.env->begin(), options.env->end()) : Environment()),
          has_env(options.env.has_value()), limit(options.limit),
          start_new_session(options.start_new_session) {}
    Stdio stdio[3];
    std::string cwd;
    Environment env; // (not a std::optional: g++ 12 -O2 warns falsely about its destructor)
    bool has_env;
    std::size_t limit;
    bool start_new_session;
};

template <class D = void>
Process start_process(std::vector<std::string> argv, const OwnedProcessOptions<D>& options);

} // namespace detail

/// A child process (asyncio.subprocess.Process). Move-only. stdin_ / stdout_ / stderr_ hold
/// streams for the ones started with aio::PIPE.
///
/// Dropping a Process whose child still runs kills the child (SIGKILL, as asyncio's transport
/// does when it is closed); the loop reaps it either way. wait() first to let it finish.
class Process {
public:
    std::optional<StreamWriter> stdin_;
    std::optional<StreamReader> stdout_;
    std::optional<StreamReader> stderr_;

    Process() noexcept = default;
    Process(Process&& other) noexcept
        : stdin_(std::move(other.stdin_)), stdout_(std::move(other.stdout_)),
          stderr_(std::move(other.stderr_)), child_(std::exchange(other.child_, nullptr)) {}
    Process& operator=(Process&& other) noexcept {
        if (this != &other) {
            drop();
            stdin_ = std::move(other.stdin_);
            stdout_ = std::move(other.stdout_);
            stderr_ = std::move(other.stderr_);
            child_ = std::exchange(other.child_, nullptr);
        }
        return *this;
    }
    ~Process() { drop(); }

    /// The child's process id.
    int pid() const { return checked("pid").pid(); }

    /// The exit status once the child has exited and been reaped (negative: killed by that
    /// signal, as asyncio); std::nullopt while it runs.
    std::optional<int> returncode() const {
        const detail::ChildProcess& child = checked("returncode");
        return child.exited() ? std::optional<int>(child.returncode()) : std::nullopt;
    }

    /// `int code = co_await p.wait()`: waits for the child to exit and returns returncode().
    /// Returns as soon as the child exits, even if a grandchild still holds its pipes (read
    /// them to EOF for their data). Cancel-safe: the child is still reaped when it exits.
    /// Several tasks may wait. Throws aio::RuntimeError when something else in the program
    /// reaped the child first (a waitpid(-1) elsewhere), when awaited on another loop than the
    /// one that started the child, or once that loop is closed. Unlike asyncio's, it does not wait
    /// for the pipes to close, so it cannot deadlock on a full stdout pipe either — but a child
    /// blocked writing to a full pipe nobody reads never exits: read it, or use communicate().
    detail::ChildExitWait wait() { return detail::ChildExitWait(checked("wait")); }

    /// Sends `input` to stdin (then closes it), reads stdout and stderr to end of file — all
    /// concurrently, so a child that writes a lot before reading all its input cannot deadlock
    /// — and waits for the child to exit. `input` needs stdin_ = aio::PIPE (aio::ValueError
    /// otherwise); a child that exits without reading it all is not an error (EPIPE is
    /// ignored, as asyncio). Reading to end of file means a grandchild holding the pipes delays
    /// it: wrap it in aio::wait_for. Cancelling it drops what was read so far; the child keeps
    /// running (kill() it) and is reaped when it exits.
    template <class D = void>
    Task<Output> communicate(std::string input = {}) {
        detail::ChildProcess& child = checked("communicate");
        if (!input.empty() && !stdin_)
            throw ValueError("communicate(input): the child's stdin is not a pipe; start it with "
                             ".stdin_ = aio::PIPE to send it input");
        return communicate_task<D>(stdin_, stdout_, stderr_, detail::ChildExitWait(child),
                                   std::move(input));
    }

    /// Sends `signo` to the child; does nothing once it has been reaped (the pid may be
    /// another process's by then; with a pidfd the signal can never reach a recycled pid).
    /// Throws std::system_error if the kernel refuses (EINVAL for a bad signal number).
    void send_signal(int signo) { checked("send_signal").send_signal(signo); }
    /// send_signal(SIGTERM).
    void terminate() { checked("terminate").send_signal(SIGTERM); }
    /// send_signal(SIGKILL).
    void kill() { checked("kill").send_signal(SIGKILL); }

    explicit operator bool() const noexcept { return child_ != nullptr; }

private:
    template <class D>
    friend Process detail::start_process(std::vector<std::string>,
                                         const detail::OwnedProcessOptions<D>&);

    detail::ChildProcess& checked(const char* what) const {
        if (!child_)
            throw RuntimeError(std::string(what) + "() on an empty Process (moved from?)");
        return *child_;
    }

    void drop() noexcept {
        if (child_)
            std::exchange(child_, nullptr)->handle_dropped();
    }

    template <class D>
    static Task<std::string> feed_stdin(std::optional<StreamWriter> writer, std::string input) {
        if (!writer)
            co_return std::string();
        try {
            if (!input.empty()) {
                writer->write(std::move(input));
                co_await writer->drain();
            }
            writer->close();
            co_await writer->wait_closed();
        } catch (const std::system_error& e) {
            // The child exited (or closed stdin) without reading everything: not an error.
            if (e.code().value() != EPIPE && e.code().value() != ECONNRESET)
                throw;
        }
        co_return std::string();
    }

    template <class D>
    static Task<std::string> read_to_end(std::optional<StreamReader> reader) {
        if (!reader)
            co_return std::string();
        co_return co_await reader->read(-1);
    }

    template <class D>
    static Task<Output> communicate_task(std::optional<StreamWriter> in,
                                         std::optional<StreamReader> out,
                                         std::optional<StreamReader> err,
                                         detail::ChildExitWait exited, std::string input) {
        auto [fed, out_text, err_text] =
            co_await gather(feed_stdin<D>(std::move(in), std::move(input)),
                            read_to_end<D>(std::move(out)), read_to_end<D>(std::move(err)));
        (void)fed;
        co_await std::move(exited);
        co_return Output{std::move(out_text), std::move(err_text)};
    }

    detail::ChildProcess* child_ = nullptr;
};

namespace detail {

/// One of the child's standard fds: what the child gets (>= 3, dup2()ed onto 0..2 by the
/// spawn) and, for a pipe, the parent's non-blocking end.
struct StdioSetup {
    OwnedFd child;
    OwnedFd parent;
};

template <class D = void>
OwnedFd moved_above_stdio(int fd, const char* what) {
    OwnedFd owned(fd);
    return fd >= 3 ? std::move(owned) : dup_above_stdio<D>(fd, what);
}

template <class D = void>
StdioSetup setup_stdio(const Stdio& stdio, int target, const StdioSetup& stdout_setup) {
    static constexpr const char* names[] = {"stdin_", "stdout_", "stderr_"};
    const char* name = names[target];
    StdioSetup setup;
    switch (stdio.kind()) {
    case Stdio::Kind::inherit:
        break;
    case Stdio::Kind::pipe: {
        int fds[2];
#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
        if (::pipe2(fds, O_CLOEXEC) != 0)
#else
        if (::pipe(fds) != 0 || ::fcntl(fds[0], F_SETFD, FD_CLOEXEC) != 0 ||
            ::fcntl(fds[1], F_SETFD, FD_CLOEXEC) != 0)
#endif
            throw std::system_error(errno, std::system_category(),
                                    std::string("create_subprocess_exec: pipe for ") + name);
        // The child's end stays blocking (programs expect that of their stdio).
        const int parent_end = target == 0 ? fds[1] : fds[0];
        const int child_end = target == 0 ? fds[0] : fds[1];
        setup.parent = OwnedFd(parent_end);
        setup.child = moved_above_stdio<D>(child_end, "create_subprocess_exec");
        ::fcntl(parent_end, F_SETFL, ::fcntl(parent_end, F_GETFL) | O_NONBLOCK);
        break;
    }
    case Stdio::Kind::devnull: {
        const int fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        if (fd < 0)
            throw std::system_error(errno, std::system_category(),
                                    "create_subprocess_exec: open(\"/dev/null\")");
        setup.child = moved_above_stdio<D>(fd, "create_subprocess_exec");
        break;
    }
    case Stdio::Kind::stdout_:
        if (target != 2)
            throw ValueError(std::string("create_subprocess_exec: ") + name +
                             " = aio::STDOUT: only stderr_ can go where stdout goes");
        setup.child = stdout_setup.child
                          ? dup_above_stdio<D>(stdout_setup.child.get(), "create_subprocess_exec")
                          : dup_above_stdio<D>(1, "create_subprocess_exec");
        break;
    case Stdio::Kind::fd:
        if (stdio.fd() < 0)
            throw ValueError(std::string("create_subprocess_exec: ") + name + " = " +
                             std::to_string(stdio.fd()) +
                             ": not an fd; use aio::PIPE, aio::DEVNULL, aio::INHERIT or an "
                             "open fd");
        setup.child = dup_above_stdio<D>(stdio.fd(), "create_subprocess_exec");
        break;
    }
    return setup;
}

template <class D>
Process start_process(std::vector<std::string> argv, const OwnedProcessOptions<D>& options) {
    LoopCore& loop = LoopAccess::core(get_running_loop());
    loop.check_usable("create_subprocess_exec");

    StdioSetup stdio[3];
    for (int target = 0; target < 3; ++target)
        stdio[target] = setup_stdio<D>(options.stdio[target], target, stdio[1]);

    SpawnRequest request;
    request.argv = std::move(argv);
    request.env = options.has_env ? &options.env : nullptr;
    request.cwd = options.cwd;
    request.start_new_session = options.start_new_session;
    for (int target = 0; target < 3; ++target)
        request.stdio.fds[target] = stdio[target].child.get();

    auto* child = new ChildProcess(loop);
    pid_t pid;
    try {
        pid = spawn_process<D>(request);
    } catch (...) {
        child->abandon();
        throw;
    }
    try {
        child->started(pid);
    } catch (...) {
        child->abandon();
        throw;
    }

    Process process;
    process.child_ = child;
    for (int target = 0; target < 3; ++target) {
        if (!stdio[target].parent)
            continue;
        const int fd = stdio[target].parent.get();
        loop.io().forget_stale(fd);
        TransportRef ref(
            new StreamTransport(loop, fd, StreamKind::pipe, options.limit, std::nullopt));
        stdio[target].parent.release(); // the transport owns it now
        if (target == 0)
            process.stdin_.emplace(std::move(ref));
        else if (target == 1)
            process.stdout_.emplace(std::move(ref));
        else
            process.stderr_.emplace(std::move(ref));
    }
    return process;
}

template <class D = void>
Task<Process> spawn_task(std::vector<std::string> argv, OwnedProcessOptions<D> options) {
    co_return start_process<D>(std::move(argv), options);
}

template <class A>
inline constexpr bool is_process_options = std::is_same_v<std::remove_cvref_t<A>, ProcessOptions>;

template <class A>
void add_exec_arg(std::vector<std::string>& argv, ProcessOptions& options, A&& arg) {
    if constexpr (is_process_options<A>) {
        options = arg;
    } else {
        static_assert(std::is_constructible_v<std::string, A&&>,
                      "create_subprocess_exec: every argument is a string (use std::to_string "
                      "for numbers); only the last may be an aio::ProcessOptions");
        argv.emplace_back(std::forward<A>(arg));
    }
}

} // namespace detail

/// `co_await aio::create_subprocess_exec(argv, options)`: starts argv[0] (looked up in PATH
/// when it has no '/') with the arguments argv[1..], no shell involved. Throws
/// std::system_error when the program cannot be started (ENOENT: not found; EACCES: not
/// executable; a missing cwd), aio::ValueError for bad options (an empty argv, a negative fd,
/// stdout_ = aio::STDOUT).
template <class D = void>
Task<Process> create_subprocess_exec(std::vector<std::string> argv,
                                     const ProcessOptions& options = {}) {
    return detail::spawn_task<D>(std::move(argv), detail::OwnedProcessOptions<D>(options));
}

/// `co_await aio::create_subprocess_exec("grep", "-c", "x", aio::ProcessOptions{...})`: as
/// asyncio's (program, *args), with the options last (optional).
template <class... Args>
Task<Process> create_subprocess_exec(std::string_view program, Args&&... args) {
    constexpr bool is_options[] = {detail::is_process_options<Args>..., false};
    constexpr std::size_t count = (std::size_t{0} + ... + detail::is_process_options<Args>);
    static_assert(count == 0 || (count == 1 && is_options[sizeof...(Args) - 1]),
                  "create_subprocess_exec: the aio::ProcessOptions, if any, come last");
    std::vector<std::string> argv;
    argv.reserve(1 + sizeof...(Args));
    argv.emplace_back(program);
    ProcessOptions options;
    (detail::add_exec_arg(argv, options, std::forward<Args>(args)), ...);
    using D = detail::deferred_t<void(Args...), void>;
    return detail::spawn_task<D>(std::move(argv), detail::OwnedProcessOptions<D>(options));
}

/// `co_await aio::create_subprocess_shell("ls | wc -l", options)`: runs `command` with
/// /bin/sh -c. The shell's exit status is the returncode. Quote what comes from users (or use
/// create_subprocess_exec, which involves no shell). Errors as create_subprocess_exec.
template <class D = void>
Task<Process> create_subprocess_shell(std::string command, const ProcessOptions& options = {}) {
    std::vector<std::string> argv;
    argv.reserve(3);
    argv.emplace_back("/bin/sh");
    argv.emplace_back("-c");
    argv.push_back(std::move(command));
    return detail::spawn_task<D>(std::move(argv), detail::OwnedProcessOptions<D>(options));
}

} // namespace aio
