// The practical limit of the dispatch workload: epoll with nothing on top. An fd-indexed
// array of plain structs holding a function pointer, epoll_wait, and one epoll_ctl per
// change, as a C programmer would write it in an afternoon. Whatever iomux costs beyond
// this is the price of its abstraction.
#pragma once

#include <sys/epoll.h>

#include <cstddef>
#include <vector>

#include "hot_potato.hpp"
#include "poller/unique_fd.hpp"

namespace iomux::compare {

class BareEpollLoop {
public:
    // max_fd: the highest fd that will be added (the watcher table is sized once).
    BareEpollLoop(HotPotato& chain, int max_fd);

    void add_reader(int fd, std::size_t index);  // EPOLL_CTL_ADD
    void remove_reader(int fd);                   // EPOLL_CTL_DEL
    // One non-blocking epoll_wait and the callbacks of what it returned.
    void run_once();

private:
    struct Watcher {
        void (*on_read)(HotPotato&, std::size_t);
        std::size_t index;
    };

    HotPotato& chain_;
    iomux::UniqueFd epfd_;
    std::vector<Watcher> watchers_;
    std::vector<epoll_event> events_;
};

}  // namespace iomux::compare
