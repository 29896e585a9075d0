// CPU time and memory of a process: ours (getrusage) or another one's, read from /proc while
// it is alive (a reaped process has no /proc entry, and a zombie has no memory figures).
// A server started with --workers N is a parent that only supervises and N children that
// serve, so the figures of another process can be had for its whole tree.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>

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
    CpuTimes cpu;                    // utime + stime from /proc/PID/stat (clock-tick resolution)
    std::uint64_t rss_kib = 0;       // VmRSS
    std::uint64_t peak_rss_kib = 0;  // VmHWM: the high-water mark since it started
};

// pid and its descendants (/proc/PID/task/*/children), summed; nullopt when pid is gone.
std::optional<ProcSample> sample_tree(pid_t pid);

// CPU seconds of every thread of pid and its descendants, each thread's /proc schedstat in
// nanoseconds, for stages and traffic windows too short for /proc/PID/stat's 10 ms clock
// ticks. nullopt when pid is gone.
std::optional<double> tree_cpu_s(pid_t pid);

// utime + stime of pid alone (/proc/PID/stat), in seconds.
std::optional<double> cpu_seconds(pid_t pid);
// VmRSS of pid alone, in KiB; VmHWM, its peak, in MiB.
std::optional<std::uint64_t> rss_kib(pid_t pid);
std::optional<double> peak_rss_mib(pid_t pid);

// Open file descriptors (entries of /proc/PID/fd). Throws std::filesystem::filesystem_error
// when the process is gone.
std::size_t open_fds(pid_t pid);

}  // namespace iomux::tools
