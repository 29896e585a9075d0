#include "server_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "wait_status.hpp"

namespace stress {

std::string default_server_path() {
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return "examples/echo_server";
    return (self.parent_path() / ".." / ".." / "examples" / "echo_server").lexically_normal().string();
}

ServerProcess::ServerProcess(const std::string& path, const std::vector<std::string>& args,
                             std::chrono::steady_clock::time_point deadline) {
    if (::access(path.c_str(), X_OK) != 0)
        throw std::runtime_error(fmt::format("cannot run the echo server {}: {} (build it, or pass --server-path)",
                                             path, std::strerror(errno)));
    std::vector<std::string> argv_strings{path};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    command_line_ = fmt::format("{}", fmt::join(argv_strings, " "));
    // Everything the child needs is prepared before fork(): after it, only async-signal-
    // safe calls.
    std::vector<char*> argv;
    for (std::string& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);

    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error(fmt::format("pipe2: {}", std::strerror(errno)));
    iomux::UniqueFd read_end(p[0]), write_end(p[1]);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error(fmt::format("fork: {}", std::strerror(errno)));
    if (pid_ == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect
        ::dup2(write_end.get(), STDOUT_FILENO);    // dup2 clears O_CLOEXEC on the copy
        // Ignored signals stay ignored across exec: give the server the defaults.
        ::signal(SIGPIPE, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execv(argv[0], argv.data());
        constexpr char msg[] = "stress_client: exec of the echo server failed\n";
        [[maybe_unused]] auto n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
        ::_exit(127);
    }
    write_end.reset();
    out_ = std::move(read_end);

    // Read until the listening line, EOF (it died) or the deadline.
    std::string seen;
    for (;;) {
        const auto newline = seen.find('\n');
        if (newline != std::string::npos) {
            const std::string line = seen.substr(0, newline);
            const auto at = line.find("listening on ");
            const auto colon = line.rfind(':');
            if (at == std::string::npos || colon == std::string::npos || colon < at) {
                stop(std::chrono::seconds(1));
                throw std::runtime_error(
                    fmt::format("{} said '{}', not 'listening on HOST:PORT'", command_line_, line));
            }
            host_ = line.substr(at + 13, colon - at - 13);
            port_ = static_cast<std::uint16_t>(std::strtoul(line.c_str() + colon + 1, nullptr, 10));
            break;
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd pfd{out_.get(), POLLIN, 0};
        const int r = left.count() > 0 ? ::poll(&pfd, 1, static_cast<int>(left.count()) + 1) : 0;
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            stop(std::chrono::seconds(1));
            throw std::runtime_error(fmt::format("{} did not say where it listens before the deadline", command_line_));
        }
        std::array<char, 512> buf;
        const ssize_t n = ::read(out_.get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int status = 0;
            ::waitpid(pid_, &status, 0);
            reap(status);
            throw std::runtime_error(fmt::format("{} {} before saying where it listens", command_line_, how_));
        }
        seen.append(buf.data(), static_cast<std::size_t>(n));
    }
    if (port_ == 0) {
        stop(std::chrono::seconds(1));
        throw std::runtime_error(fmt::format("{} announced port 0", command_line_));
    }
    ::fcntl(out_.get(), F_SETFL, ::fcntl(out_.get(), F_GETFL) | O_NONBLOCK);
    if (auto s = iomux::tools::sample_tree(pid_)) start_rss_kib_ = s->rss_kib;
}

ServerProcess::~ServerProcess() {
    detach();
    stop(std::chrono::seconds(2));
}

void ServerProcess::attach(iomux::Reactor& loop) {
    loop_ = &loop;
    loop.add_reader(out_.get(), [this] {
        std::array<char, 4096> buf;
        const ssize_t n = ::read(out_.get(), buf.data(), buf.size());
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) detach();  // it closed its stdout
        // There may be more, or an end of file that makes no edge of its own on epoll-et:
        // one more turn.
        else if (n > 0 && (n == static_cast<ssize_t>(buf.size()) || loop_->edge_triggered()))
            loop_->keep_ready(out_.get(), iomux::EVENT_READ);
    });
}

void ServerProcess::detach() {
    if (loop_ && out_) loop_->remove_reader(out_.get());
    loop_ = nullptr;
}

void ServerProcess::reap(int status) {
    reaped_ = true;
    how_ = describe_wait_status(status);
    clean_ = (WIFEXITED(status) && WEXITSTATUS(status) == 0) || (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
}

std::optional<std::string> ServerProcess::exited() {
    if (!reaped_ && pid_ > 0) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) reap(status);
    }
    return reaped_ ? std::optional<std::string>(how_) : std::nullopt;
}

ServerProcess::Exit ServerProcess::stop(std::chrono::milliseconds grace) {
    if (!reaped_ && pid_ > 0) {
        ::kill(pid_, SIGTERM);
        const auto until = std::chrono::steady_clock::now() + grace;
        int status = 0;
        while (!reaped_) {
            const pid_t r = ::waitpid(pid_, &status, WNOHANG);
            if (r == pid_) {
                reap(status);
            } else if (r < 0 && errno != EINTR) {
                reaped_ = true;  // not our child any more: nothing to wait for
                how_ = "vanished";
            } else if (std::chrono::steady_clock::now() >= until) {
                ::kill(pid_, SIGKILL);
                while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
                }
                reap(status);
                how_ += fmt::format(" (did not exit within {} ms of SIGTERM)", grace.count());
                clean_ = false;
            } else {
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
            }
        }
    }
    return {how_, clean_};
}

}  // namespace stress
