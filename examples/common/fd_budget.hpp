// How many connections one server process can hold, and how many processes a count needs.
//
// RLIMIT_NOFILE is per process. Where its hard limit cannot be raised (on this project's
// machines 20000, even for root), a server for more connections than that must be several
// processes: echo_server --workers N.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace examples {

struct FdBudget {
    std::uint64_t limit = 0;              // RLIMIT_NOFILE in force, after raising
    std::uint64_t conns_per_process = 0;  // limit minus the fds a server needs besides
    // Processes needed for conns connections (at least 1).
    std::uint64_t workers_for(std::uint64_t conns) const noexcept;
};

// Raises this process's soft RLIMIT_NOFILE to its hard limit (children inherit it) and
// returns the budget of a server process running `loops` event loops.
FdBudget raise_fd_budget(std::size_t loops);

// For --max-conns: says on stderr how many connections a process holds and how many
// workers conns need. False, with what to run instead, when `workers` are too few.
bool check_fd_plan(std::string_view program, const FdBudget& budget, std::uint64_t conns, std::size_t workers);

}  // namespace examples
