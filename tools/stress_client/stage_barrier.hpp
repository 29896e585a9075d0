// StageBarrier: where the scenario's parties (one per --threads thread, each on its own
// reactor with its own share of the connections) meet between stages, and where each
// stage's figures are taken.
//
// The material's scenario is a barrier per message: every connection gets message k's
// reply before any is sent message k + 1. With threads the barrier stays global: no thread
// starts a stage before every thread has finished the previous one, so a stage's wall time
// is from the release that began it to the last party's arrival, and its CPU figures (this
// process, every thread; the spawned server) are taken at those two moments.
//
// With one party (no --threads) everything happens in that party's thread and the release
// is a call_soon; with more, the last party to arrive releases the others with
// call_soon_threadsafe, and the progress lines are printed under the barrier's lock.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "progress.hpp"
#include "reactor/reactor.hpp"
#include "run_result.hpp"
#include "stage_clock.hpp"

namespace stress {

class StageBarrier {
public:
    // progress: the bar or lines, driven from the single party's loop; with several
    // parties only its lines (never a bar: the bar's counter would read other threads).
    StageBarrier(std::size_t parties, Progress& progress, StageClock::Probe server_cpu = {});
    StageBarrier(const StageBarrier&) = delete;
    StageBarrier& operator=(const StageBarrier&) = delete;

    // The first stage begins now; every party calls it as it starts, the first call counts.
    // counter: the progress bar's, used with one party only.
    void begin(std::string name, Progress::Counter counter = {});

    // A party finished the current stage, in which it had `expected` connections or
    // replies and finished `done` of them. When every party has arrived, the stage ends:
    // `go` then runs in `loop` (the party's), and the stage called `next` begins. A party
    // that has nothing more to do passes an empty `go`: it is not waited for again.
    void arrive(iomux::Reactor& loop, std::uint64_t expected, std::uint64_t done, std::string next,
                std::function<void()> go, Progress::Counter counter = {});

    // The party running in `loop` stopped before finishing (deadline, signal; nullptr: it
    // never started): it is not waited for again (nor released, if it had arrived), and
    // the stage in progress ends as "stopped" when the others stop too.
    void leave(iomux::Reactor* loop);

    // The stages so far; the one in progress (if any) is left out.
    std::vector<StageResult> stages() const;

private:
    struct Waiter {
        iomux::Reactor* loop;
        std::function<void()> go;
    };
    void release();  // with mutex_ held

    mutable std::mutex mutex_;
    std::size_t parties_;     // still taking part
    const bool alone_;
    Progress& progress_;
    StageClock clock_;
    std::string name_, next_;
    Clock::time_point began_;
    bool begun_ = false, in_stage_ = false;
    std::uint64_t expected_ = 0, done_ = 0;
    Progress::Counter next_counter_;
    std::vector<Waiter> waiting_;
    std::vector<StageResult> stages_;
};

}  // namespace stress
