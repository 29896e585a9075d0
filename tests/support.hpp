// Helpers shared by the test programs.
#pragma once

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <system_error>
#include <utility>

#include "poller/poller.hpp"
#include "poller/unique_fd.hpp"

namespace iomux::test {

// The backend under test: meson runs each test program once per backend, with
// IOMUX_BACKEND set (see tests/meson.build); default_backend() reads it.
inline std::string backend() { return default_backend(); }

struct SocketPair {
    UniqueFd a, b;
};

// A connected AF_UNIX stream pair, non-blocking and close-on-exec.
inline SocketPair socket_pair() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        throw std::system_error(errno, std::generic_category(), "socketpair");
    return {UniqueFd(sv[0]), UniqueFd(sv[1])};
}

// Raises the soft RLIMIT_NOFILE to the hard limit and returns it.
inline rlim_t raise_fd_limit() {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_cur;
}

}  // namespace iomux::test
