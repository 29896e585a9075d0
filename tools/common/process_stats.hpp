// CPU time and memory of a process: ours (getrusage) or another one's, read from /proc while
// it is alive (a reaped process has no /proc entry, and a zombie has no memory figures).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace iomux::tools {

struct CpuTimes {
    double user_s = 0;
    double sys_s = 0;
    double total() const noexcept { return user_s + sys_s; }
};
inline CpuTimes operator-(const CpuTimes& a, const CpuTimes& b) { return {a.user_s - b.user_s, a.sys_s - b.sys_s}; }

// This process, threads included (getrusage(RUSAGE_SELF), microsecond resolution).
CpuTimes self_cpu();

struct ProcSample {
    CpuTimes cpu;                  // utime + stime from /proc/PID/stat (clock-tick resolution)
    std::uint64_t rss_kib = 0;     // VmRSS
    std::uint64_t peak_rss_kib = 0;// VmHWM: the high-water mark since it started
};

// nullopt when the process is gone (or /proc is not there).
std::optional<ProcSample> sample_process(pid_t pid);

// utime + stime from /proc/PID/stat, in seconds (clock-tick resolution).
std::optional<double> cpu_seconds(pid_t pid);

// CPU seconds of pid's main thread with nanosecond resolution (/proc/PID/schedstat), for
// stages and traffic windows too short for the 10 ms clock ticks of /proc/PID/stat; falls
// back to cpu_seconds(). nullopt when gone.
std::optional<double> precise_cpu_s(pid_t pid);

// pid, its children, and theirs (/proc/PID/task/*/children), parents first: a server
// started with --workers N is a parent that only supervises and N children that serve.
std::vector<pid_t> process_tree(pid_t pid);

// sample_process summed over process_tree(pid); nullopt when pid is gone.
std::optional<ProcSample> sample_tree(pid_t pid);

// CPU seconds of every thread of every process of process_tree(pid) (a server's loop
// threads and pre-forked workers), each thread's /proc schedstat in nanoseconds, for stages
// too short for clock ticks. nullopt when pid is gone.
std::optional<double> tree_cpu_s(pid_t pid);

// Resident memory (VmRSS) from /proc/PID/status, in KiB.
std::optional<std::uint64_t> rss_kib(pid_t pid);
// VmHWM (peak resident set) from /proc/PID/status, in MiB.
std::optional<double> peak_rss_mib(pid_t pid);

// Open file descriptors (entries of /proc/PID/fd). Throws std::filesystem::filesystem_error
// when the process is gone.
std::size_t open_fds(pid_t pid);

}  // namespace iomux::tools
