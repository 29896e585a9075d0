// RLIMIT_NOFILE: the dispatch sweep needs two fds per socket pair, the echo runs one per
// connection in each process.
#pragma once

#include <cstddef>

namespace iomux::compare {

// Raises the soft limit to the hard one (as far as the kernel lets an unprivileged or
// root process go) and returns the soft limit now in force. Children inherit it.
std::size_t raise_fd_limit();

// How many socket pairs fit under `limit`, leaving room for stdio, the poller's own fds and
// the reactor's wake-up fd.
std::size_t max_socket_pairs(std::size_t limit);

}  // namespace iomux::compare
