#include "run_tool.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include "common/child_process.hpp"

namespace stress_test {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

ToolRun run_tool(const std::string& path, const std::vector<std::string>& args, std::chrono::milliseconds limit,
                 const std::function<void(pid_t)>& meanwhile) {
    std::vector<std::string> argv{path};
    argv.insert(argv.end(), args.begin(), args.end());
    iomux::tools::SpawnOptions options;
    options.capture_stdout = options.capture_stderr = true;
    const auto start = std::chrono::steady_clock::now();
    iomux::tools::ChildProcess child(argv, options);
    std::thread poker;
    if (meanwhile) poker = std::thread([&meanwhile, pid = child.pid()] { meanwhile(pid); });

    auto output = child.collect(limit);
    ToolRun run;
    run.out = std::move(output.out);
    run.err = std::move(output.err);
    run.timed_out = output.timed_out;
    if (run.timed_out) child.signal(SIGKILL);
    const int status = child.wait_status(std::chrono::seconds(10));
    if (poker.joinable()) poker.join();
    run.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    run.exit_code = status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
}

std::vector<pid_t> children_of(pid_t pid, std::size_t at_least, std::chrono::milliseconds wait) {
    const auto until = std::chrono::steady_clock::now() + wait;
    std::vector<pid_t> pids;
    for (;;) {
        pids.clear();
        std::ifstream f("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
        for (pid_t child; f >> child;) pids.push_back(child);
        if (pids.size() >= at_least || std::chrono::steady_clock::now() >= until) return pids;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

}  // namespace stress_test
