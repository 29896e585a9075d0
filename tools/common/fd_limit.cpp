#include "common/fd_limit.hpp"

#include <sys/resource.h>

#include <algorithm>

#include <fmt/format.h>

namespace iomux::tools {
namespace {

std::uint64_t as_count(rlim_t v) { return v == RLIM_INFINITY ? UINT64_MAX : static_cast<std::uint64_t>(v); }

}  // namespace

FdLimit ensure_fd_limit(std::uint64_t needed) {
    FdLimit out;
    out.needed = needed;
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    out.soft_before = as_count(rl.rlim_cur);
    if (as_count(rl.rlim_cur) < needed) {
        if (as_count(rl.rlim_max) < needed) {
            // Only with privilege, and capped by fs.nr_open; failure is reported by the caller.
            rlimit higher{static_cast<rlim_t>(needed), static_cast<rlim_t>(needed)};
            if (::setrlimit(RLIMIT_NOFILE, &higher) == 0) rl = higher;
        }
        if (as_count(rl.rlim_cur) < needed) {
            rlimit raised{static_cast<rlim_t>(std::min(needed, as_count(rl.rlim_max))), rl.rlim_max};
            if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
        }
    }
    ::getrlimit(RLIMIT_NOFILE, &rl);
    out.soft = as_count(rl.rlim_cur);
    out.hard = as_count(rl.rlim_max);
    return out;
}

std::string fd_limit_advice(const FdLimit& limit, std::uint64_t conns) {
    const std::uint64_t most = limit.soft > kFdReserve ? limit.soft - kFdReserve : 0;
    return fmt::format(
        "{} connections need {} open files, but this process can have at most {} (RLIMIT_NOFILE: soft {}, hard {}; "
        "raising the hard limit failed or is not allowed here). That is room for {} connections.\n"
        "What to do: run with --conns {} or fewer; or raise the hard limit where you can (ulimit -Hn as root, "
        "limits.conf, systemd LimitNOFILE=, docker --ulimit nofile=); or run several client processes, each "
        "with its own limit (and --source-addrs past the ephemeral port range).",
        conns, limit.needed, limit.soft, limit.soft, limit.hard, most, most);
}

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
    return limit > kFdReserve ? (limit - kFdReserve) / 2 : 0;
}

}  // namespace iomux::tools
