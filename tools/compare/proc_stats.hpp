// What a server we started cost, read from /proc while it is alive (a reaped process has no
// /proc entry, and a zombie has no memory figures).
#pragma once

#include <sys/types.h>

#include <optional>

namespace iomux::compare {

// utime + stime from /proc/PID/stat, in seconds.
std::optional<double> cpu_seconds(pid_t pid);
// VmHWM (peak resident set) from /proc/PID/status, in MiB.
std::optional<double> peak_rss_mib(pid_t pid);

}  // namespace iomux::compare
