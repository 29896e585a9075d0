#include "socket_pairs.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <system_error>

namespace iomux::compare {

std::vector<SocketPair> make_socket_pairs(std::size_t n) {
    std::vector<SocketPair> pairs;
    pairs.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
            throw std::system_error(errno, std::generic_category(), "socketpair");
        pairs.push_back({iomux::UniqueFd(sv[0]), iomux::UniqueFd(sv[1])});
    }
    return pairs;
}

}  // namespace iomux::compare
