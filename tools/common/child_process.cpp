#include "common/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include <fmt/format.h>

namespace iomux::tools {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const char* what) {
    throw std::system_error(errno, std::generic_category(), what);
}

struct Pipe {
    iomux::UniqueFd read, write;
};

Pipe make_pipe() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) fail("pipe2");
    return {iomux::UniqueFd(p[0]), iomux::UniqueFd(p[1])};
}

int status_code(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 255;
}

}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const SpawnOptions& options) {
    // Everything the child needs is prepared before fork: after it, only async-signal-safe
    // calls (the parent may have threads we do not know of).
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    cpu_set_t set;
    CPU_ZERO(&set);
    if (options.cpu) CPU_SET(*options.cpu, &set);
    std::optional<Pipe> out, err;
    if (options.capture_stdout) out = make_pipe();
    if (options.capture_stderr && !options.merge_stderr) err = make_pipe();
    const pid_t parent = ::getpid();
    const rlimit limit{options.fd_limit, options.fd_limit};
    const bool search = options.search_path && argv.at(0).find('/') == std::string::npos;
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    sigset_t no_signals;
    sigemptyset(&no_signals);

    pid_ = ::fork();
    if (pid_ < 0) fail("fork");
    if (pid_ == 0) {
        // A comparison killed halfway must not leave a server holding 11000 sockets.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(126);
        for (int signo = 1; signo < NSIG; ++signo) ::sigaction(signo, &default_action, nullptr);
        ::sigprocmask(SIG_SETMASK, &no_signals, nullptr);
        if (options.cpu) ::sched_setaffinity(0, sizeof set, &set);
        if (options.fd_limit > 0 && ::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::_exit(126);
        if (out) ::dup2(out->write.get(), STDOUT_FILENO);
        if (options.merge_stderr)
            ::dup2(STDOUT_FILENO, STDERR_FILENO);
        else if (err)
            ::dup2(err->write.get(), STDERR_FILENO);
        if (search)
            ::execvp(args[0], args.data());
        else
            ::execv(args[0], args.data());
        ::_exit(127);
    }
    if (out) out_ = std::move(out->read);
    if (err) err_ = std::move(err->read);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), out_(std::move(other.out_)), err_(std::move(other.err_)),
      pending_(std::move(other.pending_)) {}

ChildProcess::~ChildProcess() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        int status;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
    }
}

std::optional<std::string> ChildProcess::read_line(Millis timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (const auto nl = pending_.find('\n'); nl != std::string::npos) {
            std::string line = pending_.substr(0, nl);
            pending_.erase(0, nl + 1);
            return line;
        }
        if (!out_) return std::nullopt;
        const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
        if (left <= 0) return std::nullopt;
        pollfd pfd{out_.get(), POLLIN, 0};
        const int r = ::poll(&pfd, 1, static_cast<int>(left));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return std::nullopt;
        std::array<char, 4096> buf;
        const ssize_t n = ::read(out_.get(), buf.data(), buf.size());
        if (n <= 0) {
            out_.reset();
            if (pending_.empty()) return std::nullopt;
            return std::exchange(pending_, {});
        }
        pending_.append(buf.data(), static_cast<std::size_t>(n));
    }
}

std::optional<std::uint16_t> ChildProcess::read_listening_port(Millis timeout, std::string* skipped) {
    const auto deadline = Clock::now() + timeout;
    while (auto line = read_line(std::chrono::duration_cast<Millis>(deadline - Clock::now()))) {
        if (const auto port = listening_port(*line)) return port;
        if (skipped) skipped->append(*line).push_back('\n');
    }
    return std::nullopt;
}

ChildProcess::Output ChildProcess::collect(Millis timeout, Millis tick_every, const std::function<void()>& tick) {
    Output o;
    o.out = std::exchange(pending_, {});
    const auto deadline = Clock::now() + timeout;
    auto next_tick = Clock::now() + tick_every;
    while (out_ || err_) {
        const auto now = Clock::now();
        if (now >= deadline) {
            o.timed_out = true;
            return o;
        }
        if (now >= next_tick) {
            tick();
            next_tick = now + tick_every;
        }
        std::array<pollfd, 2> fds{};
        std::array<iomux::UniqueFd*, 2> owners{};
        std::array<std::string*, 2> sinks{};
        nfds_t n = 0;
        if (out_) owners[n] = &out_, sinks[n] = &o.out, fds[n++] = {out_.get(), POLLIN, 0};
        if (err_) owners[n] = &err_, sinks[n] = &o.err, fds[n++] = {err_.get(), POLLIN, 0};
        const auto wait = std::min(deadline, next_tick) - now;
        const int ms = static_cast<int>(std::chrono::ceil<Millis>(wait).count());
        const int r = ::poll(fds.data(), n, ms);
        if (r < 0 && errno != EINTR) fail("poll");
        for (nfds_t i = 0; r > 0 && i < n; ++i) {
            if (!fds[i].revents) continue;
            std::array<char, 16384> buf;
            const ssize_t got = ::read(fds[i].fd, buf.data(), buf.size());
            if (got <= 0)
                owners[i]->reset();
            else
                sinks[i]->append(buf.data(), static_cast<std::size_t>(got));
        }
    }
    return o;
}

bool ChildProcess::read_stderr(std::string* text, std::string_view until, Millis timeout) {
    const auto deadline = Clock::now() + timeout;
    std::array<char, 65536> buf;  // a default pipe's capacity: one read empties it
    while (err_) {
        const auto left = deadline - Clock::now();
        const bool waiting = text->find(until) == std::string::npos && left > Clock::duration::zero();
        pollfd pfd{err_.get(), POLLIN, 0};
        const int r = ::poll(&pfd, 1, waiting ? static_cast<int>(std::chrono::ceil<Millis>(left).count()) : 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) fail("poll");
        if (r == 0) break;
        const ssize_t n = ::read(err_.get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            err_.reset();
            break;
        }
        text->append(buf.data(), static_cast<std::size_t>(n));
        // Done waiting: a short read emptied the pipe, so a child that keeps writing cannot
        // hold us here.
        if (!waiting && static_cast<std::size_t>(n) < buf.size()) break;
    }
    return static_cast<bool>(err_);
}

void ChildProcess::signal(int signo) noexcept {
    if (pid_ > 0) ::kill(pid_, signo);
}

int ChildProcess::wait(Millis timeout) {
    const int status = wait_status(timeout);
    return status < 0 ? 255 : status_code(status);
}

int ChildProcess::wait_status(Millis timeout) {
    const auto deadline = Clock::now() + timeout;
    while (pid_ > 0) {
        if (const auto status = poll_status()) return *status;
        if (Clock::now() >= deadline) {
            ::kill(pid_, SIGKILL);
            int status = 0;
            while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
            }
            pid_ = -1;
            return status;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return -1;
}

std::optional<int> ChildProcess::poll_status() {
    if (pid_ <= 0) return -1;
    int status = 0;
    pid_t r;
    while ((r = ::waitpid(pid_, &status, WNOHANG)) < 0 && errno == EINTR) {
    }
    if (r == 0) return std::nullopt;
    pid_ = -1;
    return r == -1 ? -1 : status;
}

std::string describe_wait_status(int status) {
    if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
    if (!WIFSIGNALED(status)) return fmt::format("ended with wait status {}", status);
    const char* name = ::sigabbrev_np(WTERMSIG(status));
    return name ? fmt::format("killed by SIG{}", name) : fmt::format("killed by signal {}", WTERMSIG(status));
}

std::optional<std::string> find_on_path(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::string_view dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
    while (!dirs.empty()) {
        const auto colon = dirs.find(':');
        std::string dir(dirs.substr(0, colon));
        dirs = colon == std::string_view::npos ? std::string_view{} : dirs.substr(colon + 1);
        if (dir.empty()) dir = ".";
        std::string candidate = dir + '/' + name;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return std::nullopt;
}

std::optional<std::uint16_t> listening_port(std::string_view line) {
    constexpr std::string_view prefix = "listening on ";
    const auto colon = line.rfind(':');
    if (!line.starts_with(prefix) || colon == std::string_view::npos) return std::nullopt;
    unsigned port = 0;
    const char* end = line.data() + line.size();
    const auto [ptr, ec] = std::from_chars(line.data() + colon + 1, end, port);
    if (ec != std::errc{} || ptr != end || port == 0 || port > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(port);
}

}  // namespace iomux::tools
