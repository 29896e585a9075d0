#include "fd_limit.hpp"

#include <sys/resource.h>

namespace iomux::compare {

namespace {
// stdio, the epoll fd, the reactor's eventfd, a pipe to a child, gnuplot's script: a few
// dozen is plenty and keeps the cap predictable.
constexpr std::size_t kReservedFds = 64;
}  // namespace

std::size_t raise_fd_limit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rlimit wanted = rl;
        wanted.rlim_cur = rl.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &wanted) == 0) rl = wanted;
    }
    return rl.rlim_cur == RLIM_INFINITY ? std::size_t{1} << 20 : static_cast<std::size_t>(rl.rlim_cur);
}

std::size_t max_socket_pairs(std::size_t limit) {
    return limit > kReservedFds ? (limit - kReservedFds) / 2 : 0;
}

}  // namespace iomux::compare
