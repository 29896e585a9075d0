#include "tests/examples/process.hpp"

#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>

#include "tests/support.hpp"

namespace iomux::test {
namespace {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;
using namespace std::chrono_literals;

std::vector<std::string> server_argv(const std::string& path, const std::vector<std::string>& args) {
    std::vector<std::string> argv{path};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--port", "0", "--backend", backend()});
    return argv;
}

}  // namespace

std::string example_path(const char* env_var) {
    const char* path = std::getenv(env_var);
    if (!path || !*path)
        throw std::runtime_error(fmt::format("${} is not set: run this test through meson test", env_var));
    return path;
}

ServerProcess::ServerProcess(const std::string& path, std::vector<std::string> args, rlim_t fd_limit,
                             bool capture_stderr)
    // Unless captured, its stderr goes to the test log.
    : child_(server_argv(path, args),
             {.cpu = std::nullopt, .capture_stdout = true, .capture_stderr = capture_stderr, .fd_limit = fd_limit}) {
    std::string printed;
    const auto port = child_.read_listening_port(10s, &printed);
    if (!port) throw std::runtime_error(fmt::format("{} did not announce its port; it printed '{}'", path, printed));
    port_ = *port;
}

bool ServerProcess::terminate(int signo) {
    if (!child_.running()) return false;
    child_.signal(signo);
    status_ = child_.wait_status(10s);
    return status_ >= 0 && WIFEXITED(status_) && WEXITSTATUS(status_) == 0;
}

std::string ServerProcess::stderr_text(std::string_view until, std::chrono::milliseconds wait) {
    if (child_.running())
        child_.read_stderr(&stderr_text_, until, wait);
    else  // to the end of the pipe, which its workers may hold a little longer
        stderr_text_ += child_.collect(10s).err;
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

CommandResult run_command(const std::vector<std::string>& argv, Millis timeout, rlim_t fd_limit) {
    const auto deadline = Clock::now() + timeout;
    tools::ChildProcess child(argv,
                              {.cpu = std::nullopt, .capture_stdout = true, .fd_limit = fd_limit, .search_path = true, .merge_stderr = true});
    CommandResult result;
    result.output = child.collect(timeout).out;
    const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    const int status = child.wait_status(std::max<Millis>(1s, left));
    result.status = status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

}  // namespace iomux::test
