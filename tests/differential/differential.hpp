// Differential: applies each Operation to every backend of the build at once and checks
// that they agree: the same errno from add and modify, and, at every wait(0), the same
// ready set from every level-triggered backend (select, poll, epoll, and any other the
// build has), while each edge-triggered one keeps its own contract (edge_contract.hpp)
// against them. Every report is also held to what was registered: an fd that is not
// registered, or bits it is not registered for, are never reported, so an event cannot
// leak to a closed fd's reused number.
//
// Closing a registered fd is the documented exception (poller.hpp): at the wait that
// follows, epoll drops the fd (unless io_uring, also under test, holds its file open),
// poll reports it with its interest, select reports only the closed fds; other backends
// may report it, but only with its interest. Only that is compared before it is removed.
// With io_uring in the run, the peer is left out of that one wait too: whether its end
// hangs up then depends on when io_uring lets go of the file, within its own wait.
//
// One instance is one run: 4 socket pairs, a fresh Poller per backend; not thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "poller/poller.hpp"
#include "poller/unique_fd.hpp"
#include "tests/differential/edge_contract.hpp"
#include "tests/differential/operation.hpp"

namespace iomux::differential {

class Differential {
public:
    // Every backend in backend_names() that the kernel allows: one whose make_poller
    // throws std::system_error (say, io_uring turned off) is left out.
    Differential();

    // Applies op; returns what went wrong, naming the operation and the ones before it,
    // or nullopt when every backend behaved.
    std::optional<std::string> apply(const Operation& op);
    // Applies the operations bytes decode to, then a last wait; stops at the first problem.
    std::optional<std::string> run(std::span<const std::uint8_t> bytes);

    // The names of the backends under test, in backend_names() order.
    std::vector<std::string> backends() const;

    // What a run exercised, so that a test can show it checked something.
    struct Stats {
        std::uint64_t operations = 0;     // applied (an operation on a closed end is skipped)
        std::uint64_t waits = 0;
        std::uint64_t ready_reports = 0;  // fds reported ready by the level-triggered reference
        std::uint64_t edge_reports = 0;   // fds reported by edge-triggered backends
        std::uint64_t errors = 0;         // add / modify errnos all backends agreed on
        std::uint64_t closed_registered = 0;  // documented closes of a registered fd
    };
    const Stats& stats() const noexcept { return stats_; }

private:
    struct Backend {
        std::unique_ptr<Poller> poller;
        EdgeContract contract;  // for edge-triggered backends
    };
    struct Closed {
        int fd;
        std::uint32_t interest;
        int peer;  // its peer, -1 when closed too
    };

    std::optional<std::string> dispatch(const Operation& op);
    std::optional<std::string> register_fd(const Operation& op);
    std::optional<std::string> transfer(const Operation& op);
    std::optional<std::string> close_registered(const Operation& op);
    void close_pair(int pair);
    void remove_everywhere(int fd);
    std::optional<std::string> check_wait(std::optional<Closed> closed);
    std::vector<ReadySet> wait_all();
    std::string describe(const Operation& op) const;
    std::string describe_pairs() const;  // "3-4 5-6 ...", -1 for a closed end
    // The edge-triggered contracts, told that something happened to fd.
    void touched(int fd);
    void edged(int fd);

    std::vector<Backend> backends_;
    std::array<std::array<UniqueFd, 2>, kPairs> pairs_;
    ReadySet interest_;  // registered fd -> events; the same on every backend, or the run stops
    std::deque<std::string> history_;  // the last operations, for the failure message
    std::string note_;                 // what the current operation returned
    std::vector<char> scratch_ = std::vector<char>(kMaxTransfer);  // bytes never looked at
    std::uint64_t step_ = 0;
    Stats stats_;
};

}  // namespace iomux::differential
