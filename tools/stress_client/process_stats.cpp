#include "process_stats.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace stress {

CpuTimes self_cpu() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    auto s = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
    return {s(ru.ru_utime), s(ru.ru_stime)};
}

std::optional<ProcSample> sample_process(pid_t pid) {
    ProcSample out;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return std::nullopt;
    // Field 2, the command name, is in parentheses and may hold spaces: count from the
    // last ')'. utime and stime are fields 14 and 15, i.e. the 12th and 13th after it.
    const auto paren = line.rfind(')');
    if (paren == std::string::npos) return std::nullopt;
    std::istringstream fields(line.substr(paren + 1));
    std::string skip;
    for (int i = 0; i < 11; ++i) fields >> skip;
    unsigned long long utime = 0, stime = 0;
    if (!(fields >> utime >> stime)) return std::nullopt;
    const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
    out.cpu = {static_cast<double>(utime) / tick, static_cast<double>(stime) / tick};

    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    while (std::getline(status, line)) {
        std::uint64_t* into = line.starts_with("VmHWM:") ? &out.peak_rss_kib
                              : line.starts_with("VmRSS:") ? &out.rss_kib
                                                            : nullptr;
        if (into) std::istringstream(line.substr(6)) >> *into;
    }
    return out;
}

std::optional<double> precise_cpu_s(pid_t pid) {
    std::ifstream schedstat("/proc/" + std::to_string(pid) + "/schedstat");
    unsigned long long ns = 0;
    if (schedstat >> ns) return static_cast<double>(ns) / 1e9;
    if (auto s = sample_process(pid)) return s->cpu.total();
    return std::nullopt;
}

}  // namespace stress
