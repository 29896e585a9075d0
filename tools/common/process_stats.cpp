#include "common/process_stats.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace iomux::tools {
namespace {

// utime and stime from /proc/PID/stat, in seconds.
std::optional<CpuTimes> stat_cpu(pid_t pid) {
    std::ifstream stat(fmt::format("/proc/{}/stat", pid));
    std::string line;
    // Field 2, the command name, is in parentheses and may hold spaces: count from the
    // last ')'. utime and stime are fields 14 and 15, i.e. the 12th and 13th after it.
    if (!std::getline(stat, line) || line.rfind(')') == std::string::npos) return std::nullopt;
    std::istringstream fields(line.substr(line.rfind(')') + 1));
    std::string skip;
    for (int i = 0; i < 11; ++i) fields >> skip;
    unsigned long long utime = 0, stime = 0;
    if (!(fields >> utime >> stime)) return std::nullopt;
    const auto tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
    return CpuTimes{static_cast<double>(utime) / tick, static_cast<double>(stime) / tick};
}

// A "Name:   N kB" line of /proc/PID/status, in KiB; nullopt when absent (a zombie has none).
std::optional<std::uint64_t> status_kib(pid_t pid, std::string_view name) {
    std::ifstream status(fmt::format("/proc/{}/status", pid));
    std::uint64_t kib = 0;
    for (std::string line; std::getline(status, line);)
        if (line.starts_with(name) && std::istringstream(line.substr(name.size())) >> kib) return kib;
    return std::nullopt;
}

// pid, its children, and theirs, parents first.
std::vector<pid_t> process_tree(pid_t pid) {
    std::vector<pid_t> tree{pid};
    for (std::size_t i = 0; i < tree.size(); ++i) {
        std::error_code ec;
        for (const auto& task : std::filesystem::directory_iterator(fmt::format("/proc/{}/task", tree[i]), ec)) {
            std::ifstream children(task.path() / "children");
            for (pid_t child; children >> child;) tree.push_back(child);
        }
    }
    return tree;
}

}  // namespace

CpuTimes self_cpu() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    auto s = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
    return {s(ru.ru_utime), s(ru.ru_stime)};
}

std::optional<ProcSample> sample_tree(pid_t pid) {
    std::optional<ProcSample> total;
    for (const pid_t p : process_tree(pid)) {
        const auto cpu = stat_cpu(p);
        if (!cpu) {
            if (p == pid) return std::nullopt;
            continue;  // a child that just ended
        }
        if (!total) total.emplace();
        total->cpu.user_s += cpu->user_s;
        total->cpu.sys_s += cpu->sys_s;
        total->rss_kib += status_kib(p, "VmRSS:").value_or(0);
        total->peak_rss_kib += status_kib(p, "VmHWM:").value_or(0);
    }
    return total;
}

std::optional<double> tree_cpu_s(pid_t pid) {
    std::optional<double> total;
    for (const pid_t p : process_tree(pid)) {
        std::error_code ec;
        std::filesystem::directory_iterator tasks(fmt::format("/proc/{}/task", p), ec);
        if (ec) {
            if (p == pid) return std::nullopt;
            continue;  // a child that just ended: its CPU is lost
        }
        for (const auto& task : tasks) {
            std::ifstream schedstat(task.path() / "schedstat");
            unsigned long long ns = 0;
            if (schedstat >> ns) total = total.value_or(0) + static_cast<double>(ns) / 1e9;
        }
    }
    return total;
}

std::optional<double> cpu_seconds(pid_t pid) {
    const auto cpu = stat_cpu(pid);
    return cpu ? std::optional<double>(cpu->total()) : std::nullopt;
}

std::optional<std::uint64_t> rss_kib(pid_t pid) { return status_kib(pid, "VmRSS:"); }

std::optional<double> peak_rss_mib(pid_t pid) {
    const auto kib = status_kib(pid, "VmHWM:");
    return kib ? std::optional<double>(static_cast<double>(*kib) / 1024.0) : std::nullopt;
}

std::size_t open_fds(pid_t pid) {
    const std::filesystem::directory_iterator dir(fmt::format("/proc/{}/fd", pid));
    return static_cast<std::size_t>(std::distance(std::filesystem::begin(dir), std::filesystem::end(dir)));
}

}  // namespace iomux::tools
