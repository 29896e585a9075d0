#include "tests/examples/proc_stats.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace iomux::test {
namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error(fmt::format("cannot read {}", path));
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

long rss_kib(pid_t pid) {
    const std::string status = slurp(fmt::format("/proc/{}/status", pid));
    const auto at = status.find("VmRSS:");
    if (at == std::string::npos) throw std::runtime_error("no VmRSS in /proc/PID/status");
    return std::stol(status.substr(at + 6));
}

double cpu_seconds(pid_t pid) {
    // Fields 14 and 15 (utime, stime, in clock ticks) of /proc/PID/stat. The command name
    // (field 2) is in parentheses and may contain spaces, so count from its closing one.
    const std::string stat = slurp(fmt::format("/proc/{}/stat", pid));
    std::istringstream rest(stat.substr(stat.rfind(')') + 2));
    std::string field;
    for (int i = 3; i < 14; ++i) rest >> field;  // state .. cmajflt
    long utime = 0, stime = 0;
    rest >> utime >> stime;
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::size_t open_fds(pid_t pid) {
    const std::filesystem::directory_iterator dir(fmt::format("/proc/{}/fd", pid));
    return static_cast<std::size_t>(std::distance(std::filesystem::begin(dir), std::filesystem::end(dir)));
}

}  // namespace iomux::test
