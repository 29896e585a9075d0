// Open-file limit: an 11000-connection client needs 11000 fds; the usual soft limit is 1024.
#pragma once

#include <sys/resource.h>

#include <cstdint>
#include <string>

namespace stress {

// fds besides the connections: stdio, the reactor's poller, wake-up eventfd and signal
// pipe, the spawned server's stdout pipe, and slack for the libraries.
inline constexpr std::uint64_t kFdReserve = 64;

struct FdLimit {
    std::uint64_t needed = 0;
    std::uint64_t soft_before = 0;
    std::uint64_t soft = 0;  // after raising
    std::uint64_t hard = 0;
    bool enough() const noexcept { return soft >= needed; }
};

// Raises the soft RLIMIT_NOFILE to `needed` (not beyond: the rest of the system keeps its
// defaults), raising the hard limit first when that is allowed (root, CAP_SYS_RESOURCE).
FdLimit ensure_fd_limit(std::uint64_t needed);

// For the user, when !limit.enough(): how many fds there are and what to do about it.
std::string fd_limit_advice(const FdLimit& limit, std::uint64_t conns);

}  // namespace stress
