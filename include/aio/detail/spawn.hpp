// aio::detail::spawn_process — starts a child with posix_spawn: what the child gets (argv, env,
// cwd, its three standard fds, SIGPIPE / SIGCHLD / SIGXFSZ at their defaults, an empty signal
// mask) and nothing else: every other fd is closed (glibc >= 2.34 and macOS; elsewhere only
// the close-on-exec ones, which every fd aio opens is).
//
// posix_spawn (glibc's is clone(CLONE_VM | CLONE_VFORK) + exec) reports a failed exec to the
// parent as its return value, so a missing program is std::system_error(ENOENT) from the call
// that started it, not a child exiting 127. The program is looked up in PATH here, in the
// parent — in the child's PATH when .env gives one, as Python's subprocess does — which also
// lets the error message say where it was looked for.
#pragma once

#include <aio/errors.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <spawn.h>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

extern char** environ; // POSIX declares it in no header

namespace aio::detail {

/// The three standard fds the child gets: -1 inherits the parent's; any other fd is dup2()ed
/// onto 0, 1 or 2 (it must be >= 3 so that setting one up cannot overwrite another's source).
struct ChildStdio {
    int fds[3] = {-1, -1, -1};
};

/// What to start: argv[0] is the program (looked up in PATH when it has no '/').
struct SpawnRequest {
    std::vector<std::string> argv;
    const std::vector<std::pair<std::string, std::string>>* env = nullptr; // null: inherit
    std::string cwd;                                                       // empty: inherit
    bool start_new_session = false;
    ChildStdio stdio;
};

/// An fd that closes when it goes out of scope.
class OwnedFd {
public:
    OwnedFd() noexcept = default;
    explicit OwnedFd(int fd) noexcept : fd_(fd) {}
    OwnedFd(OwnedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    OwnedFd& operator=(OwnedFd other) noexcept {
        std::swap(fd_, other.fd_);
        return *this;
    }
    ~OwnedFd() {
        if (fd_ >= 0)
            ::close(fd_);
    }
    int get() const noexcept { return fd_; }
    int release() noexcept { return std::exchange(fd_, -1); }
    explicit operator bool() const noexcept { return fd_ >= 0; }

private:
    int fd_ = -1;
};

/// A close-on-exec duplicate of `fd` numbered 3 or above (the child's stdio setup dup2()s it
/// onto 0..2; a source among 0..2 could be overwritten by an earlier dup2).
template <class D = void> // compiled only where used, as every function here
OwnedFd dup_above_stdio(int fd, const char* what) {
    const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (copy < 0)
        throw std::system_error(errno, std::system_category(),
                                std::string(what) + ": fcntl(" + std::to_string(fd) +
                                    ", F_DUPFD_CLOEXEC)");
    return OwnedFd(copy);
}

/// The directories of a PATH value; an empty entry is the current directory.
template <class D = void>
std::string path_of(const SpawnRequest& request) {
    if (request.env) {
        std::string path = "/bin:/usr/bin"; // execvp's default when the environment has none
        for (const auto& [key, value] : *request.env)
            if (key == "PATH")
                path = value;
        return path;
    }
    const char* path = ::getenv("PATH");
    return path ? path : "/bin:/usr/bin";
}

/// The file `program` names: itself when it has a '/', else the first executable regular file
/// in PATH (execvp's rules: EACCES only when something was found but none could be run).
template <class D = void>
std::string find_program(const std::string& program, const SpawnRequest& request) {
    if (program.empty())
        throw ValueError("create_subprocess_exec: the program name is empty");
    if (program.find('/') != std::string::npos)
        return program;
    const std::string path = path_of<D>(request);
    int error = ENOENT;
    std::size_t begin = 0;
    for (;;) {
        std::size_t end = path.find(':', begin);
        if (end == std::string::npos)
            end = path.size();
        std::string candidate(path, begin, end - begin);
        candidate += candidate.empty() ? "" : "/";
        candidate += program;
        // A relative entry is relative to the child's cwd, where posix_spawn will run it.
        const std::string seen_from_parent =
            candidate[0] != '/' && !request.cwd.empty() ? request.cwd + "/" + candidate : candidate;
        struct stat st {};
        if (::stat(seen_from_parent.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
            if (::access(seen_from_parent.c_str(), X_OK) == 0)
                return candidate;
            error = EACCES;
        }
        if (end == path.size())
            break;
        begin = end + 1;
    }
    throw std::system_error(error, std::system_category(),
                            "create_subprocess_exec: cannot run \"" + program +
                                "\" (looked for it in PATH=" + path + ")");
}

/// "KEY=VALUE" strings for execve; a later pair replaces an earlier one with the same key.
template <class D = void>
std::vector<std::string>
environment_strings(const std::vector<std::pair<std::string, std::string>>& env) {
    std::vector<std::string> out;
    out.reserve(env.size());
    for (const auto& [key, value] : env) {
        if (key.empty() || key.find('=') != std::string::npos)
            throw ValueError("create_subprocess_exec: environment variable name \"" + key +
                             "\" is empty or contains '='");
        std::string entry = key + "=" + value;
        bool replaced = false;
        for (std::string& earlier : out)
            if (earlier.compare(0, key.size() + 1, entry, 0, key.size() + 1) == 0) {
                earlier = std::move(entry);
                replaced = true;
                break;
            }
        if (!replaced)
            out.push_back(std::move(entry));
    }
    return out;
}

/// posix_spawn's attribute and file-action objects, destroyed on every path out.
struct SpawnSetup {
    posix_spawnattr_t attr;
    posix_spawn_file_actions_t actions;
    SpawnSetup() {
        posix_spawnattr_init(&attr);
        posix_spawn_file_actions_init(&actions);
    }
    ~SpawnSetup() {
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
    }
    SpawnSetup(const SpawnSetup&) = delete;
    SpawnSetup& operator=(const SpawnSetup&) = delete;
};

template <class D = void>
void check_spawn_call(int error, const char* call) {
    if (error != 0)
        throw std::system_error(error, std::system_category(),
                                std::string("create_subprocess_exec: ") + call);
}

/// Starts the child; returns its pid. Throws std::system_error when it cannot be started
/// (ENOENT, EACCES, ENOEXEC, a cwd that does not exist...), aio::ValueError for a bad request.
template <class D = void>
pid_t spawn_process(const SpawnRequest& request) {
    if (request.argv.empty())
        throw ValueError("create_subprocess_exec: argv is empty; give at least the program");
    const std::string program = find_program<D>(request.argv.front(), request);

    std::vector<char*> argv;
    argv.reserve(request.argv.size() + 1);
    for (const std::string& arg : request.argv)
        argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);

    std::vector<std::string> env_strings;
    std::vector<char*> envp;
    if (request.env) {
        env_strings = environment_strings<D>(*request.env);
        for (std::string& entry : env_strings)
            envp.push_back(entry.data());
        envp.push_back(nullptr);
    }

    SpawnSetup setup;
    for (int target = 0; target < 3; ++target) {
        const int source = request.stdio.fds[target];
#if defined(POSIX_SPAWN_CLOEXEC_DEFAULT)
        if (source < 0) // macOS closes every fd without an action, 0..2 included
            check_spawn_call<D>(posix_spawn_file_actions_addinherit_np(&setup.actions, target),
                                "posix_spawn_file_actions_addinherit_np");
#endif
        if (source >= 0)
            check_spawn_call<D>(posix_spawn_file_actions_adddup2(&setup.actions, source, target),
                                "posix_spawn_file_actions_adddup2");
    }
    if (!request.cwd.empty()) {
#if defined(__GLIBC__) || defined(__APPLE__) || defined(__FreeBSD__)
        check_spawn_call<D>(
            posix_spawn_file_actions_addchdir_np(&setup.actions, request.cwd.c_str()),
            "posix_spawn_file_actions_addchdir_np");
#else
        throw RuntimeError("create_subprocess_exec: .cwd is not supported on this platform "
                           "(no posix_spawn_file_actions_addchdir_np)");
#endif
    }

    short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
    // Every fd aio opens is close-on-exec; these close the ones other code left inheritable.
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    check_spawn_call<D>(posix_spawn_file_actions_addclosefrom_np(&setup.actions, 3),
                        "posix_spawn_file_actions_addclosefrom_np");
#elif defined(POSIX_SPAWN_CLOEXEC_DEFAULT)
    flags |= POSIX_SPAWN_CLOEXEC_DEFAULT; // macOS: only the dup2() targets survive exec
#endif
    if (request.start_new_session) {
#if defined(POSIX_SPAWN_SETSID)
        flags |= POSIX_SPAWN_SETSID;
#else
        throw RuntimeError("create_subprocess_exec: .start_new_session is not supported on "
                           "this platform (no POSIX_SPAWN_SETSID)");
#endif
    }
    // The child starts as a fresh program would: SIGPIPE (which aio ignores in the parent),
    // SIGCHLD and SIGXFSZ at their defaults, and no signal blocked (a thread that blocks
    // SIGTERM must not make its children immune to terminate()).
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGCHLD);
    sigaddset(&defaults, SIGXFSZ);
    sigset_t empty_mask;
    sigemptyset(&empty_mask);
    check_spawn_call<D>(posix_spawnattr_setsigdefault(&setup.attr, &defaults),
                        "posix_spawnattr_setsigdefault");
    check_spawn_call<D>(posix_spawnattr_setsigmask(&setup.attr, &empty_mask),
                        "posix_spawnattr_setsigmask");
    check_spawn_call<D>(posix_spawnattr_setflags(&setup.attr, flags), "posix_spawnattr_setflags");

    pid_t pid = -1;
    const int error = ::posix_spawn(&pid, program.c_str(), &setup.actions, &setup.attr, argv.data(),
                                    request.env ? envp.data() : environ);
    if (error != 0) {
        std::string what = "create_subprocess_exec: cannot run \"" + program + "\"";
        if (!request.cwd.empty())
            what += " in \"" + request.cwd + "\"";
        throw std::system_error(error, std::system_category(), what);
    }
    return pid;
}

} // namespace aio::detail
