// Open-file limit (RLIMIT_NOFILE): an 11000-connection client needs 11000 fds and the dispatch
// sweep two per socket pair, but the usual soft limit is 1024.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace iomux::tools {

// fds besides the connections or socket pairs: stdio, the reactor's poller, wake-up eventfd and
// signal pipe, a pipe to a child, gnuplot's script, and slack for the libraries. A few dozen is
// plenty and keeps the cap predictable.
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

// Raises the soft limit to the hard one (as far as the kernel lets an unprivileged or
// root process go) and returns the soft limit now in force. Children inherit it.
std::size_t raise_fd_limit();

// How many socket pairs fit under `limit`, leaving kFdReserve for everything else.
std::size_t max_socket_pairs(std::size_t limit);

}  // namespace iomux::tools
