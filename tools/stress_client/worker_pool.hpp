// WorkerPool: --workers N. N pre-forked processes, each with its own share of the
// connections and its own open-file limit (one process may hold at most 20000 fds here,
// a hard limit even root cannot raise), each reporting to the parent over a pipe when it is
// done (result_codec.hpp); the parent merges the reports.
//
// The parent supervises: a worker that dies, or exits without a whole report, is a failure
// that names it and says how it ended; on the parent's deadline (the run's --timeout plus
// a grace period) or its stop() (SIGINT, SIGTERM) the workers get SIGTERM, which makes
// them stop and report what they have, and SIGKILL if they still have not ended a few
// seconds later. Each worker dies with the parent (PR_SET_PDEATHSIG), so none is orphaned.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "poller/unique_fd.hpp"
#include "reactor/reactor.hpp"
#include "result_codec.hpp"

namespace stress {

class WorkerPool {
public:
    // Worker i's share: connections [first, first + conns) of the run.
    struct Share {
        std::uint32_t index, first, conns;
    };
    // What a worker runs, in the child, after fork(): returns its report.
    using Body = std::function<WorkerReport(const Share&)>;

    // Forks `workers` processes splitting `conns` connections evenly; call it while the
    // process has one thread. Each child runs body and _exits, never returning here.
    WorkerPool(std::uint32_t workers, std::uint32_t conns, const Body& body);
    // Kills (SIGKILL) and reaps any worker still running.
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    // Runs `loop` until every worker has ended, collecting their reports. After `deadline`
    // the ones left are stopped as by stop().
    void collect(iomux::Reactor& loop, std::chrono::steady_clock::time_point deadline);
    // SIGTERM to every worker still running (from a signal handler callback in the loop).
    void stop();

    struct Outcome {
        Share share;
        pid_t pid;
        std::optional<WorkerReport> report;  // nullopt: it died or said nothing usable
        std::string failure;                 // why it counts as failed, or empty
    };
    const std::vector<Outcome>& outcomes() const noexcept { return outcomes_; }

    // The fewest workers for `conns` connections when one process may hold `fds_per_process`
    // fds, `reserve` of them for things other than connections.
    static std::uint32_t workers_needed(std::uint64_t conns, std::uint64_t fds_per_process, std::uint64_t reserve);

private:
    struct Child {
        pid_t pid = -1;
        iomux::UniqueFd out;   // the read end of its report pipe
        std::string text;
        bool ended = false;
        bool killed = false;   // we sent SIGKILL after the grace period
    };
    void read_from(std::size_t i);
    void ended(std::size_t i);
    void escalate();

    std::vector<Child> children_;
    std::vector<Outcome> outcomes_;
    iomux::Reactor* loop_ = nullptr;
    std::size_t running_ = 0;
    bool stopping_ = false;
    iomux::TimerHandle deadline_timer_, kill_timer_;
};

}  // namespace stress
