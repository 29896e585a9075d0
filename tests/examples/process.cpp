#include "tests/examples/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <fmt/format.h>

#include "tests/support.hpp"

namespace iomux::test {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

[[noreturn]] void fail(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

struct Child {
    pid_t pid;
    UniqueFd out;  // the read end of its stdout (and stderr, when merged)
    UniqueFd err;  // the read end of its stderr, when separate
};

enum class Stderr { inherit, merge, separate };

struct Pipe {
    UniqueFd read_end, write_end;
};

Pipe make_pipe() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) fail("pipe2");
    return {UniqueFd(p[0]), UniqueFd(p[1])};
}

// fork + exec with stdout on a pipe. Everything the child runs before exec is
// async-signal-safe: the test program may have threads.
Child spawn(const std::vector<std::string>& argv, bool search_path, Stderr err, rlim_t fd_limit) {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    Pipe out = make_pipe();
    Pipe errors = err == Stderr::separate ? make_pipe() : Pipe{};
    const rlimit limit{fd_limit, fd_limit};
    const pid_t pid = ::fork();
    if (pid < 0) fail("fork");
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        // A test that crashes must not leave servers behind (it survives exec).
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::dup2(out.write_end.get(), STDOUT_FILENO);  // dup2 clears close-on-exec
        if (err == Stderr::merge) ::dup2(out.write_end.get(), STDERR_FILENO);
        if (err == Stderr::separate) ::dup2(errors.write_end.get(), STDERR_FILENO);
        if (fd_limit > 0 && ::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::_exit(126);
        if (search_path)
            ::execvp(args[0], args.data());
        else
            ::execv(args[0], args.data());
        ::_exit(127);
    }
    return {pid, std::move(out.read_end), std::move(errors.read_end)};
}

// waitpid with a deadline; SIGKILL when it passes. Returns the wait status.
int wait_for(pid_t pid, Clock::duration timeout) {
    const auto deadline = Clock::now() + timeout;
    int status = 0;
    for (;;) {
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) return status;
        if (r < 0 && errno != EINTR) fail("waitpid");
        if (Clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            return status;
        }
        std::this_thread::sleep_for(5ms);
    }
}

// Reads from fd until `stop` says the text is complete, EOF, or the deadline.
template <class Stop>
std::string read_until(int fd, Clock::time_point deadline, Stop stop) {
    std::string text;
    char buf[4096];
    while (!stop(text)) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        pollfd pfd{fd, POLLIN, 0};
        // Past the deadline, one last look at what is there already.
        const int r = ::poll(&pfd, 1, left.count() > 0 ? static_cast<int>(left.count()) + 1 : 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        text.append(buf, static_cast<std::size_t>(n));
    }
    return text;
}

}  // namespace

std::string example_path(const char* env_var) {
    const char* path = std::getenv(env_var);
    if (!path || !*path)
        throw std::runtime_error(fmt::format("${} is not set: run this test through meson test", env_var));
    return path;
}

ServerProcess::ServerProcess(const std::string& path, std::vector<std::string> args, rlim_t fd_limit,
                             bool capture_stderr) {
    std::vector<std::string> argv{path};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--port", "0", "--backend", backend()});
    // Unless captured, its stderr goes to the test log.
    Child child = spawn(argv, false, capture_stderr ? Stderr::separate : Stderr::inherit, fd_limit);
    pid_ = child.pid;
    stdout_ = std::move(child.out);
    stderr_ = std::move(child.err);

    const std::string line = read_until(stdout_.get(), Clock::now() + 10s,
                                        [](const std::string& t) { return t.find('\n') != std::string::npos; });
    constexpr std::string_view prefix = "listening on 127.0.0.1:";
    if (line.rfind(prefix, 0) != 0 || line.find('\n') == std::string::npos) {
        ::kill(pid_, SIGKILL);
        wait_for(pid_, 10s);
        pid_ = -1;
        throw std::runtime_error(fmt::format("{} did not announce its port; it printed '{}'", path, line));
    }
    port_ = static_cast<std::uint16_t>(std::stoi(line.substr(prefix.size())));
}

ServerProcess::~ServerProcess() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        wait_for(pid_, 10s);
    }
}

bool ServerProcess::terminate(int signo) {
    if (pid_ <= 0) return false;
    ::kill(pid_, signo);
    status_ = wait_for(pid_, 10s);
    pid_ = -1;
    return WIFEXITED(status_) && WEXITSTATUS(status_) == 0;
}

std::string ServerProcess::stderr_text(std::string_view until, std::chrono::milliseconds wait) {
    if (!stderr_) return stderr_text_;
    const bool exited = pid_ <= 0;
    // Once it exited, to the end of the pipe; before, only what is there (or arrives in time).
    const auto deadline = Clock::now() + (exited ? Clock::duration(10s) : Clock::duration(wait));
    stderr_text_ += read_until(stderr_.get(), deadline, [&](const std::string& t) {
        return !exited && !until.empty() && (stderr_text_ + t).find(until) != std::string::npos;
    });
    if (exited) stderr_.reset();
    return stderr_text_;
}

std::vector<pid_t> child_pids(pid_t pid) {
    std::ifstream in(fmt::format("/proc/{}/task/{}/children", pid, pid));
    std::vector<pid_t> pids;
    for (pid_t child; in >> child;) pids.push_back(child);
    return pids;
}

bool process_alive(pid_t pid) {
    std::ifstream in(fmt::format("/proc/{}/stat", pid));
    std::string line;
    if (!std::getline(in, line)) return false;
    // The state follows the command name, which is in parentheses and may hold anything.
    const auto paren = line.rfind(')');
    return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] != 'Z' && line[paren + 2] != 'X';
}

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout, rlim_t fd_limit) {
    Child child = spawn(argv, true, Stderr::merge, fd_limit);
    const auto deadline = Clock::now() + timeout;
    CommandResult result;
    result.output = read_until(child.out.get(), deadline, [](const std::string&) { return false; });
    const int status = wait_for(child.pid, std::max(Clock::duration(1s), deadline - Clock::now()));
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

}  // namespace iomux::test
