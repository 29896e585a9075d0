// CPU time and memory of a process: ours (getrusage) or the spawned server's (/proc).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace stress {

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

// CPU seconds of pid's main thread with nanosecond resolution (/proc/PID/schedstat), for
// stages too short for clock ticks; falls back to sample_process(). nullopt when gone.
std::optional<double> precise_cpu_s(pid_t pid);

}  // namespace stress
