// Child processes for the example tests: the servers under test, and curl / wrk.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "poller/unique_fd.hpp"

namespace iomux::test {

// The path of an example binary, from the environment variable meson sets (e.g. ECHO_SERVER).
std::string example_path(const char* env_var);

// A running example server on 127.0.0.1. The constructor starts
// `path args... --port 0 --backend <backend under test>` and waits for its
// "listening on 127.0.0.1:<port>" line; the destructor kills it if it is still running.
class ServerProcess {
public:
    // fd_limit > 0 sets the server's RLIMIT_NOFILE (soft and hard) before it starts.
    ServerProcess(const std::string& path, std::vector<std::string> args = {}, rlim_t fd_limit = 0);
    ~ServerProcess();
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;

    pid_t pid() const noexcept { return pid_; }
    std::uint16_t port() const noexcept { return port_; }
    // Sends SIGTERM and waits (10 s at most) for the exit. True when it exited with status 0.
    bool terminate();

private:
    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
    UniqueFd stdout_;  // kept open: the server must never write to a closed pipe
};

struct CommandResult {
    int status = -1;     // exit status; -1 when it could not run or was killed
    std::string output;  // what it wrote on stdout and stderr
};

// Runs argv[0] (looked up in PATH) to completion, killing it after `timeout`.
CommandResult run_command(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = std::chrono::seconds(20));

}  // namespace iomux::test
