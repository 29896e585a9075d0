// Runs a program (the stress client) to completion with a time limit, capturing its
// stdout and stderr: the tests look at the tool only from outside, as a user would.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace stress_test {

struct ToolRun {
    int exit_code = -1;     // -1: killed (by the time limit or a signal)
    bool timed_out = false;
    double wall_s = 0;
    std::string out, err;
};

// Starts path with args; after `limit` it is killed (SIGKILL) and timed_out is set.
// meanwhile, if given, runs in a thread of its own with the tool's pid while the tool runs
// (to poke it from outside); it is joined before run_tool returns.
ToolRun run_tool(const std::string& path, const std::vector<std::string>& args,
                 std::chrono::milliseconds limit = std::chrono::seconds(30),
                 const std::function<void(pid_t)>& meanwhile = {});

// The pids of pid's children (/proc/PID/task/PID/children), waiting up to `wait` for at
// least `at_least` of them to exist.
std::vector<pid_t> children_of(pid_t pid, std::size_t at_least, std::chrono::milliseconds wait);

// $name, or an empty string.
std::string env(const char* name);

}  // namespace stress_test
