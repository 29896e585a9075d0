#include "server_process.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>


namespace stress {

std::string default_server_path() {
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return "examples/echo_server";
    return (self.parent_path() / ".." / ".." / "examples" / "echo_server").lexically_normal().string();
}

namespace {

std::vector<std::string> command(const std::string& path, const std::vector<std::string>& args) {
    if (::access(path.c_str(), X_OK) != 0)
        throw std::runtime_error(fmt::format("cannot run the echo server {}: {} (build it, or pass --server-path)",
                                             path, std::strerror(errno)));
    std::vector<std::string> argv{path};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

}  // namespace

ServerProcess::ServerProcess(const std::string& path, const std::vector<std::string>& args,
                             std::chrono::steady_clock::time_point deadline)
    : child_(command(path, args), iomux::tools::SpawnOptions{.cpu = std::nullopt, .capture_stdout = true}),
      pid_(child_.pid()),
      command_line_(fmt::format("{} {}", path, fmt::join(args, " "))) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    const std::optional<std::string> line = child_.read_line(std::max(left, std::chrono::milliseconds(0)));
    if (!line) {
        const Exit e = stop(std::chrono::seconds(1));
        throw std::runtime_error(fmt::format("{} did not say where it listens ({})", command_line_, e.how));
    }
    const auto port = iomux::tools::listening_port(*line);
    if (!port) {
        stop(std::chrono::seconds(1));
        throw std::runtime_error(fmt::format("{} said '{}', not 'listening on HOST:PORT'", command_line_, *line));
    }
    constexpr std::string_view prefix = "listening on ";
    host_ = line->substr(prefix.size(), line->rfind(':') - prefix.size());
    port_ = *port;
    ::fcntl(child_.stdout_fd(), F_SETFL, ::fcntl(child_.stdout_fd(), F_GETFL) | O_NONBLOCK);
    if (auto s = iomux::tools::sample_tree(pid_)) start_rss_kib_ = s->rss_kib;
}

ServerProcess::~ServerProcess() {
    detach();
    stop(std::chrono::seconds(2));
}

void ServerProcess::attach(iomux::Reactor& loop) {
    const int out = child_.stdout_fd();
    if (out < 0) return;  // it closed its stdout already
    loop_ = &loop;
    loop.add_reader(out, [this, out] {
        std::array<char, 4096> buf;
        const ssize_t n = ::read(out, buf.data(), buf.size());
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) detach();  // it closed its stdout
        // There may be more, or an end of file that makes no edge of its own on epoll-et:
        // one more turn.
        else if (n > 0 && (n == static_cast<ssize_t>(buf.size()) || loop_->edge_triggered()))
            loop_->keep_ready(out, iomux::EVENT_READ);
    });
}

void ServerProcess::detach() {
    if (loop_) loop_->remove_reader(child_.stdout_fd());
    loop_ = nullptr;
}

void ServerProcess::reap(int status) {
    reaped_ = true;
    if (status == -1) {  // not our child any more: nothing to wait for
        how_ = "vanished";
        clean_ = false;
        return;
    }
    how_ = iomux::tools::describe_wait_status(status);
    clean_ = (WIFEXITED(status) && WEXITSTATUS(status) == 0) || (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
}

std::optional<std::string> ServerProcess::exited() {
    if (!reaped_)
        if (const auto status = child_.poll_status()) reap(*status);
    return reaped_ ? std::optional<std::string>(how_) : std::nullopt;
}

ServerProcess::Exit ServerProcess::stop(std::chrono::milliseconds grace) {
    if (exited()) return {how_, clean_};
    child_.signal(SIGTERM);
    const int status = child_.wait_status(grace);  // SIGKILL after grace
    reap(status);
    if (status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
        how_ += fmt::format(" (did not exit within {} ms of SIGTERM)", grace.count());
        clean_ = false;
    }
    return {how_, clean_};
}

}  // namespace stress
