// What /proc says about another process: memory, CPU time, open fds.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace iomux::test {

// Resident memory (VmRSS) in KiB.
long rss_kib(pid_t pid);
// User + system CPU time consumed so far, in seconds.
double cpu_seconds(pid_t pid);
// Open file descriptors (entries of /proc/PID/fd).
std::size_t open_fds(pid_t pid);

}  // namespace iomux::test
