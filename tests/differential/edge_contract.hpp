// EdgeContract: what an edge-triggered backend (epoll-et) may and must report at a wait,
// checked against a level-triggered backend's report at the same point.
//
// epoll queues an fd when the kernel wakes its wait queue (data arrived, buffer space
// freed, a shutdown or close) and, for EPOLLET, forgets it once reported. At wait(), it
// reports each queued fd with its current readiness. So, between two edge-triggered waits:
//  - whatever it reports for an fd equals what level-triggered reports for it (same bits);
//  - it reports only fds that something could have woken since the previous wait: an
//    operation on the fd or its peer, or adding / modifying it ("touched"). An fd nothing
//    touched was reported last time or never; it must stay quiet;
//  - an fd that something certainly woke ("edged": data written to its peer while it
//    is registered for reading, a shutdown of either end, a close of its peer, adding or
//    modifying it while it is ready) must be reported if level-triggered says it is ready.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

namespace iomux::differential {

// fd -> the events one wait reported for it.
using ReadySet = std::map<int, std::uint32_t>;

// "5:1 7:3", or "(none)".
std::string to_string(const ReadySet& ready);

class EdgeContract {
public:
    // Something may have woken fd since the last wait.
    void touched(int fd) { touched_.insert(fd); }
    // Something certainly woke fd since the last wait (and so may have).
    void edged(int fd) {
        touched_.insert(fd);
        edged_.insert(fd);
    }
    // fd was removed or closed: nothing is pending for it any more.
    void forget(int fd) {
        touched_.erase(fd);
        edged_.erase(fd);
    }

    // Checks one edge-triggered wait against the level-triggered report taken at the same
    // point; returns what broke the contract, if anything. Starts the next interval.
    std::optional<std::string> check(const ReadySet& edge, const ReadySet& level);

private:
    std::set<int> touched_, edged_;
};

}  // namespace iomux::differential
