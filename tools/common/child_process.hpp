// A child program the tools and tests start (an echo server, the stress client, gnuplot,
// curl): RAII over its pid, so a failed or interrupted run never leaves a server behind.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "poller/unique_fd.hpp"

namespace iomux::tools {

struct SpawnOptions {
    std::optional<int> cpu;       // pin the child to this CPU (sched_setaffinity)
    bool capture_stdout = false;  // read it with read_line / collect
    bool capture_stderr = false;  // collected with stdout; otherwise inherited
    rlim_t fd_limit = 0;          // > 0: the child's RLIMIT_NOFILE, soft and hard
    bool search_path = false;     // argv[0] without a '/' is looked up on $PATH
    bool merge_stderr = false;    // stderr goes where stdout goes (its pipe when captured, as
                                  // a shell's 2>&1); capture_stderr is then ignored
};

class ChildProcess {
public:
    using Millis = std::chrono::milliseconds;

    // Throws std::system_error when fork or the pipes fail; a program that cannot be
    // executed exits 127 (seen by wait()). The child starts with default signal dispositions
    // and an empty signal mask (an ignored SIGPIPE would otherwise survive exec), and is
    // killed when this process dies (PR_SET_PDEATHSIG).
    ChildProcess(const std::vector<std::string>& argv, const SpawnOptions& options);
    ChildProcess(ChildProcess&& other) noexcept;
    ChildProcess& operator=(ChildProcess&&) = delete;
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;
    // Kills (SIGKILL) and reaps a child still running.
    ~ChildProcess();

    pid_t pid() const noexcept { return pid_; }
    // Its stdout pipe (capture_stdout), for draining it in an event loop once read_line has
    // taken the lines wanted; -1 when not captured or at EOF.
    int stdout_fd() const noexcept { return out_.get(); }

    // The next line of stdout, without its newline; nullopt at EOF or after timeout.
    std::optional<std::string> read_line(Millis timeout);
    // Reads stdout until the "listening on HOST:PORT" line every server here prints, and
    // returns the port; nullopt at EOF or timeout. The lines before it go to *skipped.
    std::optional<std::uint16_t> read_listening_port(Millis timeout, std::string* skipped = nullptr);

    struct Output {
        std::string out, err;
        bool timed_out = false;
    };
    // Reads stdout (and stderr if captured) until both reach EOF or timeout passes. Calls
    // tick() about every tick_every while waiting.
    Output collect(Millis timeout, Millis tick_every, const std::function<void()>& tick);
    Output collect(Millis timeout) { return collect(timeout, timeout, [] {}); }

    // Appends captured stderr to *text: what is in the pipe already, then, while `until` does
    // not occur in *text, what arrives within timeout. Returns false once stderr is at EOF
    // (or was not captured).
    bool read_stderr(std::string* text, std::string_view until, Millis timeout);

    void signal(int signo) noexcept;
    // Waits for exit; after timeout sends SIGKILL and waits again. Returns the exit status,
    // or 128 + signal number when killed by a signal (as a shell reports it).
    int wait(Millis timeout);
    // As wait(), but returns the raw waitpid status (for WIFEXITED, WTERMSIG...), or -1 when
    // there is no child left to wait for.
    int wait_status(Millis timeout);
    // Without waiting: the raw waitpid status if it has exited (it is then reaped), nullopt
    // while it runs, -1 when there is no child left to wait for.
    std::optional<int> poll_status();
    bool running() const noexcept { return pid_ > 0; }

private:
    pid_t pid_ = -1;
    iomux::UniqueFd out_, err_;
    std::string pending_;  // bytes read past the last line read_line returned
};

// How a child ended, in words, from a waitpid() status: "exited with status 3",
// "killed by SIGKILL".
std::string describe_wait_status(int status);

// The absolute path of an executable named `name` on $PATH, or nullopt.
std::optional<std::string> find_on_path(const std::string& name);

// The port of a "listening on HOST:PORT" line, or nullopt for any other line.
std::optional<std::uint16_t> listening_port(std::string_view line);

}  // namespace iomux::tools
