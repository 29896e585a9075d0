// Child processes for the example tests: the servers under test, and curl / wrk.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <csignal>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/child_process.hpp"

namespace iomux::test {

// The path of an example binary, from the environment variable meson sets (e.g. ECHO_SERVER).
std::string example_path(const char* env_var);

// A running example server on 127.0.0.1. The constructor starts
// `path args... --port 0 --backend <backend under test>` and waits for its
// "listening on 127.0.0.1:<port>" line; the destructor kills it if it is still running.
// Its stdout stays open for its whole life: it must never write to a closed pipe.
class ServerProcess {
public:
    // fd_limit > 0 sets the server's RLIMIT_NOFILE (soft and hard) before it starts.
    // capture_stderr: the server's stderr goes to a pipe read by stderr_text() instead of
    // the test log.
    ServerProcess(const std::string& path, std::vector<std::string> args = {}, rlim_t fd_limit = 0,
                  bool capture_stderr = false);

    pid_t pid() const noexcept { return child_.pid(); }
    std::uint16_t port() const noexcept { return port_; }
    // Sends signo and waits (10 s at most, then SIGKILL) for the exit. True when it exited
    // with status 0; status() then has the wait status.
    bool terminate(int signo = SIGTERM);
    int status() const noexcept { return status_; }
    // What the server wrote on stderr so far (capture_stderr), after waiting up to `wait`
    // for `until` to appear in it; to its end once it exited.
    std::string stderr_text(std::string_view until = {}, std::chrono::milliseconds wait = {});

private:
    tools::ChildProcess child_;
    int status_ = -1;
    std::uint16_t port_ = 0;
    std::string stderr_text_;
};

// The pids of pid's children (/proc/PID/task/PID/children).
std::vector<pid_t> child_pids(pid_t pid);
// True while pid exists and is not a zombie: a process that exited but was not reaped yet
// (here PID 1 reaps orphans lazily) holds no fds and runs nothing.
bool process_alive(pid_t pid);

// Polls until pred holds or the timeout passes; returns whether it held.
template <class Pred>
bool eventually(Pred pred, std::chrono::steady_clock::duration timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

struct CommandResult {
    int status = -1;     // exit status (127: it could not be run); -1 when it was killed
    std::string output;  // what it wrote on stdout and stderr
};

// Runs argv[0] (looked up in PATH) to completion, killing it after `timeout`. fd_limit as
// for ServerProcess.
CommandResult run_command(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = std::chrono::seconds(20), rlim_t fd_limit = 0);

}  // namespace iomux::test
