#include "common/fd_budget.hpp"

#include <sys/resource.h>

#include <cstdio>

#include <fmt/format.h>

namespace examples {
namespace {

// What a server process holds besides its connections: stdio, the signal pipe, the
// pre-fork ready pipe and slack for libraries; and per loop its listener, its poller, its
// wake-up eventfd and the Acceptor's spare fd.
constexpr std::uint64_t kFdsPerProcess = 16;
constexpr std::uint64_t kFdsPerLoop = 4;

}  // namespace

std::uint64_t FdBudget::workers_for(std::uint64_t conns) const noexcept {
    if (conns_per_process == 0) return conns == 0 ? 1 : UINT64_MAX;
    return conns == 0 ? 1 : (conns + conns_per_process - 1) / conns_per_process;
}

FdBudget raise_fd_budget(std::size_t loops) {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < rl.rlim_max) {
        rlimit raised{rl.rlim_max, rl.rlim_max};
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
    }
    FdBudget budget;
    budget.limit = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : static_cast<std::uint64_t>(rl.rlim_cur);
    const std::uint64_t reserve = kFdsPerProcess + kFdsPerLoop * loops;
    budget.conns_per_process = budget.limit > reserve ? budget.limit - reserve : 0;
    return budget;
}

bool check_fd_plan(std::string_view program, const FdBudget& budget, std::uint64_t conns, std::size_t workers) {
    const std::uint64_t needed = budget.workers_for(conns);
    fmt::print(stderr, "{}: RLIMIT_NOFILE is {}: up to {} connections per process; {} connections need {} worker{}\n",
               program, budget.limit, budget.conns_per_process, conns, needed, needed == 1 ? "" : "s");
    if (workers >= needed) return true;
    fmt::print(stderr, "{}: --workers {} is too few for --max-conns {}: run with --workers {} or more\n", program,
               workers, conns, needed);
    return false;
}

}  // namespace examples
