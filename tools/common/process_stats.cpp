#include "common/process_stats.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace iomux::tools {
namespace {

struct Ticks {
    unsigned long long utime = 0;
    unsigned long long stime = 0;
};

// utime and stime, in clock ticks.
std::optional<Ticks> stat_ticks(pid_t pid) {
    std::ifstream stat(fmt::format("/proc/{}/stat", pid));
    std::string line;
    if (!std::getline(stat, line)) return std::nullopt;
    // Field 2, the command name, is in parentheses and may hold spaces: count from the
    // last ')'. utime and stime are fields 14 and 15, i.e. the 12th and 13th after it.
    const auto paren = line.rfind(')');
    if (paren == std::string::npos) return std::nullopt;
    std::istringstream fields(line.substr(paren + 1));
    std::string skip;
    for (int i = 0; i < 11; ++i) fields >> skip;
    Ticks out;
    if (!(fields >> out.utime >> out.stime)) return std::nullopt;
    return out;
}

double clock_tick() { return static_cast<double>(::sysconf(_SC_CLK_TCK)); }

// A "Name:   N kB" line of /proc/PID/status, in KiB; nullopt when absent (a zombie has none).
std::optional<std::uint64_t> status_kib(pid_t pid, std::string_view name) {
    std::ifstream status(fmt::format("/proc/{}/status", pid));
    std::string line;
    while (std::getline(status, line)) {
        if (!line.starts_with(name)) continue;
        std::uint64_t kib = 0;
        if (std::istringstream(line.substr(name.size())) >> kib) return kib;
    }
    return std::nullopt;
}

}  // namespace

CpuTimes self_cpu() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    auto s = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
    return {s(ru.ru_utime), s(ru.ru_stime)};
}

std::optional<ProcSample> sample_process(pid_t pid) {
    const auto ticks = stat_ticks(pid);
    if (!ticks) return std::nullopt;
    ProcSample out;
    const double tick = clock_tick();
    out.cpu = {static_cast<double>(ticks->utime) / tick, static_cast<double>(ticks->stime) / tick};

    std::ifstream status(fmt::format("/proc/{}/status", pid));
    std::string line;
    while (std::getline(status, line)) {
        std::uint64_t* into = line.starts_with("VmHWM:") ? &out.peak_rss_kib
                              : line.starts_with("VmRSS:") ? &out.rss_kib
                                                            : nullptr;
        if (into) std::istringstream(line.substr(6)) >> *into;
    }
    return out;
}

std::optional<double> cpu_seconds(pid_t pid) {
    const auto ticks = stat_ticks(pid);
    if (!ticks) return std::nullopt;
    return static_cast<double>(ticks->utime + ticks->stime) / clock_tick();
}

std::optional<double> precise_cpu_s(pid_t pid) {
    std::ifstream schedstat(fmt::format("/proc/{}/schedstat", pid));
    unsigned long long ns = 0;
    if (schedstat >> ns) return static_cast<double>(ns) / 1e9;
    return cpu_seconds(pid);
}

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

std::optional<ProcSample> sample_tree(pid_t pid) {
    std::optional<ProcSample> total;
    for (const pid_t p : process_tree(pid)) {
        const auto s = sample_process(p);
        if (!s) {
            if (p == pid) return std::nullopt;
            continue;  // a child that just ended
        }
        if (!total) total.emplace();
        total->cpu.user_s += s->cpu.user_s;
        total->cpu.sys_s += s->cpu.sys_s;
        total->rss_kib += s->rss_kib;
        total->peak_rss_kib += s->peak_rss_kib;
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

std::optional<std::uint64_t> rss_kib(pid_t pid) { return status_kib(pid, "VmRSS:"); }

std::optional<double> peak_rss_mib(pid_t pid) {
    const auto kib = status_kib(pid, "VmHWM:");
    if (!kib) return std::nullopt;
    return static_cast<double>(*kib) / 1024.0;
}

std::size_t open_fds(pid_t pid) {
    const std::filesystem::directory_iterator dir(fmt::format("/proc/{}/fd", pid));
    return static_cast<std::size_t>(std::distance(std::filesystem::begin(dir), std::filesystem::end(dir)));
}

}  // namespace iomux::tools
