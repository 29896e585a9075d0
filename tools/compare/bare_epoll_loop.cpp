#include "bare_epoll_loop.hpp"

#include <cerrno>
#include <system_error>

namespace iomux::compare {

namespace {
[[noreturn]] void fail(const char* what) {
    throw std::system_error(errno, std::generic_category(), what);
}

void pass_potato(HotPotato& chain, std::size_t index) {
    chain.on_readable(index);
}
}  // namespace

BareEpollLoop::BareEpollLoop(HotPotato& chain, int max_fd)
    : chain_(chain), epfd_(::epoll_create1(EPOLL_CLOEXEC)),
      watchers_(static_cast<std::size_t>(max_fd) + 1),
      // Room for every fd: one wait drains everything ready, as the Selector's does.
      events_(chain.size() > 64 ? chain.size() : 64) {
    if (!epfd_) fail("epoll_create1");
}

void BareEpollLoop::add_reader(int fd, std::size_t index) {
    watchers_[static_cast<std::size_t>(fd)] = {pass_potato, index};
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (::epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) fail("epoll_ctl ADD");
}

void BareEpollLoop::remove_reader(int fd) {
    if (::epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, fd, nullptr) != 0) fail("epoll_ctl DEL");
}

void BareEpollLoop::run_once() {
    const int n = ::epoll_wait(epfd_.get(), events_.data(), static_cast<int>(events_.size()), 0);
    if (n < 0) {
        if (errno == EINTR) return;
        fail("epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
        const Watcher& w = watchers_[static_cast<std::size_t>(events_[static_cast<std::size_t>(i)].data.fd)];
        w.on_read(chain_, w.index);
    }
}

}  // namespace iomux::compare
