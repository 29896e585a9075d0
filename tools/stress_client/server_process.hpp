// ServerProcess: the echo server that --spawn-server starts, measures and stops.
//
// It is started with `--backend B --port 0` and must print `listening on HOST:PORT` on
// stdout (the project's echo_server does, first thing). Its stdout stays on a pipe that
// the reactor drains, so a chatty server never blocks on a full pipe; its stderr is ours.
// It dies with us (tools::ChildProcess), so a crashed client leaves no server behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/child_process.hpp"
#include "common/process_stats.hpp"
#include "poller/unique_fd.hpp"
#include "reactor/reactor.hpp"

namespace stress {

class ServerProcess {
public:
    // Starts `path args...` and waits until `deadline` for its listening line. Throws
    // std::runtime_error saying what went wrong (not found, exited, said nothing).
    ServerProcess(const std::string& path, const std::vector<std::string>& args,
                  std::chrono::steady_clock::time_point deadline);
    // Stops it (SIGTERM, then SIGKILL) if stop() was not called.
    ~ServerProcess();
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;

    pid_t pid() const noexcept { return pid_; }
    const std::string& host() const noexcept { return host_; }
    std::uint16_t port() const noexcept { return port_; }
    const std::string& command_line() const noexcept { return command_line_; }
    // Its memory (with its children's) right after it said it listens: the baseline for
    // memory per connection.
    std::uint64_t start_rss_kib() const noexcept { return start_rss_kib_; }

    // Drains its stdout from now on; detach() before the reactor goes away.
    void attach(iomux::Reactor& loop);
    void detach();

    // How it ended if it has exited already (it should not have), else nullopt.
    std::optional<std::string> exited();

    struct Exit {
        std::string how;  // "exited with status 0", "killed by SIGTERM", ...
        bool clean = false;  // exit status 0, or the SIGTERM we sent
    };
    // SIGTERM, up to `grace` for it to exit, then SIGKILL. Idempotent.
    Exit stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

private:
    void reap(int status);

    iomux::tools::ChildProcess child_;
    pid_t pid_;  // child_'s, kept after it is reaped
    bool reaped_ = false;
    std::string how_;
    bool clean_ = false;
    iomux::Reactor* loop_ = nullptr;
    std::string host_;
    std::uint16_t port_ = 0;
    std::string command_line_;
    std::uint64_t start_rss_kib_ = 0;
};

// ../../examples/echo_server relative to this executable (/proc/self/exe): where meson
// puts the echo server in the same build directory.
std::string default_server_path();

}  // namespace stress
