// The dispatch workload's fds: N connected AF_UNIX stream pairs, non-blocking, as libevent's
// test/bench.c uses (pipes there are a compile-time alternative; socketpairs are its default).
#pragma once

#include <cstddef>
#include <vector>

#include "poller/unique_fd.hpp"

namespace iomux::compare {

struct SocketPair {
    iomux::UniqueFd read_end, write_end;
};

// Throws std::system_error (EMFILE when the fd limit is too low for n).
std::vector<SocketPair> make_socket_pairs(std::size_t n);

}  // namespace iomux::compare
