#include "hot_potato.hpp"

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

void HotPotato::start_round() noexcept {
    fired_ = received_ = 0;
    writes_left_ = writes_;
    const std::size_t active = active_ == 0 ? 1 : (active_ > pairs_.size() ? pairs_.size() : active_);
    const std::size_t space = pairs_.size() / active;
    for (std::size_t i = 0; i < active; ++i) {
        if (::send(pairs_[i * space].write_end.get(), "e", 1, MSG_NOSIGNAL) == 1) {
            ++fired_;
            ++queued_[i * space];
        }
        else
            ++failures_;
    }
}

bool HotPotato::on_readable(std::size_t index) noexcept {
    char byte;
    if (const ssize_t n = ::recv(pairs_[index].read_end.get(), &byte, 1, 0); n != 1) {
        if (n != -1 || errno != EAGAIN) ++failures_;
        return false;
    }
    ++received_;
    --queued_[index];
    if (writes_left_ > 0) {
        const std::size_t next = index + 1 == pairs_.size() ? 0 : index + 1;
        if (::send(pairs_[next].write_end.get(), "e", 1, MSG_NOSIGNAL) == 1)
            ++queued_[next];
        else
            ++failures_;
        --writes_left_;
        ++fired_;
    }
    return queued_[index] > 0;
}

}  // namespace iomux::compare
