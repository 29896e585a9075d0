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

std::optional<std::string> json_raw(const std::string& json, std::string_view key, std::string_view section) {
    std::size_t from = 0, to = json.size();
    if (!section.empty()) {
        const std::string head = "\"" + std::string(section) + "\": {";
        from = json.find(head);
        if (from == std::string::npos) return std::nullopt;
        to = json.find('}', from);
        if (to == std::string::npos) return std::nullopt;
    }
    const std::string needle = "\"" + std::string(key) + "\": ";
    const std::size_t at = json.find(needle, from);
    if (at == std::string::npos || at >= to) return std::nullopt;
    const std::size_t begin = at + needle.size();
    const std::size_t end = json.find_first_of(",\n", begin);
    return json.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

std::optional<double> json_number(const std::string& json, std::string_view key, std::string_view section) {
    const auto raw = json_raw(json, key, section);
    if (!raw) return std::nullopt;
    char* end = nullptr;
    const double v = std::strtod(raw->c_str(), &end);
    if (end == raw->c_str()) return std::nullopt;
    return v;
}

}  // namespace stress_test
