// The practical limit of the dispatch workload: epoll with nothing on top. An fd-indexed
// array of plain structs holding a function pointer, epoll_wait, and one epoll_ctl per
// change, as a C programmer would write it in an afternoon. Whatever iomux costs beyond
// this is the price of its abstraction.
#pragma once

#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <vector>

#include "hot_potato.hpp"
#include "poller/unique_fd.hpp"

namespace iomux::compare {

class BareEpollLoop {
public:
    explicit BareEpollLoop(HotPotato& chain) : chain_(chain), epfd_(::epoll_create1(EPOLL_CLOEXEC)) {
        if (!epfd_) fail("epoll_create1");
        int max_fd = 0;
        for (std::size_t i = 0; i < chain.size(); ++i) max_fd = std::max(max_fd, chain.read_fd(i));
        watchers_.resize(static_cast<std::size_t>(max_fd) + 1);
        events_.resize(std::max<std::size_t>(chain.size(), 64));  // one wait drains everything ready
    }

    // The three calls dispatch_rounds.hpp times every loop by.
    void add_all() {
        for (std::size_t i = 0; i < chain_.size(); ++i) add(i);
    }
    void readd_all() {  // bench.c's event_del + event_add: EPOLL_CTL_DEL + ADD
        for (std::size_t i = 0; i < chain_.size(); ++i) {
            if (::epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, chain_.read_fd(i), nullptr) != 0) fail("epoll_ctl DEL");
            add(i);
        }
    }
    void run_once() {  // one non-blocking epoll_wait and the callbacks of what it returned
        const int n = ::epoll_wait(epfd_.get(), events_.data(), static_cast<int>(events_.size()), 0);
        if (n < 0 && errno != EINTR) fail("epoll_wait");
        for (int i = 0; i < n; ++i) {
            const Watcher& w = watchers_[static_cast<std::size_t>(events_[static_cast<std::size_t>(i)].data.fd)];
            w.on_read(chain_, w.index);
        }
    }

private:
    struct Watcher {
        void (*on_read)(HotPotato&, std::size_t);
        std::size_t index;
    };
    [[noreturn]] static void fail(const char* what) { throw std::system_error(errno, std::generic_category(), what); }
    void add(std::size_t i) {
        const int fd = chain_.read_fd(i);
        watchers_[static_cast<std::size_t>(fd)] = {[](HotPotato& chain, std::size_t index) { chain.on_readable(index); }, i};
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        if (::epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) fail("epoll_ctl ADD");
    }

    HotPotato& chain_;
    iomux::UniqueFd epfd_;
    std::vector<Watcher> watchers_;
    std::vector<epoll_event> events_;
};

}  // namespace iomux::compare
