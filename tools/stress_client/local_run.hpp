// LocalRun: this process's connections, driven from one reactor, or split over --threads
// reactors in as many threads, with the results merged into one.
//
// Threads: thread t gets connections [t*n/N, (t+1)*n/N) of this process's n, its own
// reactor and connect window, and verifies its own replies. In the scenario they meet at
// one StageBarrier (every thread finishes message k before any sends k + 1; stage figures
// are the barrier's). In sustained mode each thread starts its traffic when its own
// connections are made, with its share of --active and --rate; stage CPU is summed over the
// threads. The calling thread's loop meanwhile handles signals, the progress lines and the
// spawned server's output, and stops when every thread is done.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "common/process_stats.hpp"

#include "load_engine.hpp"
#include "progress.hpp"
#include "stage_clock.hpp"
#include "sustained.hpp"
#include "workload.hpp"

namespace stress {

struct RunPlan {
    std::string backend;
    EngineConfig engine;             // this process's connections: conns, first_conn, ...
    bool sustained = false;
    SustainedParams sustained_params;  // active and rate for all of this process's connections
    std::uint32_t threads = 1;
    StageClock::Probe server_cpu;    // the spawned server's CPU, when there is one
};

// Part `index` of `parts` of plan (a thread's, or a worker's): connections
// [index*n/parts, (index+1)*n/parts) of its n, with its even share of --active and of
// --rate.
RunPlan share_of(const RunPlan& plan, std::uint32_t index, std::uint32_t parts);

class LocalRun final : public Workload {
public:
    // loop: the calling thread's; with one thread the workload runs on it. progress must
    // not be a bar with several threads.
    LocalRun(iomux::Reactor& loop, RunPlan plan, Progress& progress);
    ~LocalRun() override;

    RunResult run() override;
    // From the calling thread's loop (a signal handler): every thread stops, counting what
    // is unfinished as interrupted.
    void interrupt() override;
    // An exception that escaped a callback in one of the threads, or empty.
    std::string internal_error() const;
    // This process's CPU time (every thread) from the start of run() until every thread
    // was done: closing the connections afterwards, in the destructor, is not in it.
    const iomux::tools::CpuTimes& cpu() const noexcept { return cpu_; }

private:
    struct Party;
    void run_party(std::size_t t, RunResult& out);
    void finished();
    std::unique_ptr<Workload> make_workload(iomux::Reactor& loop, std::size_t t, Progress& progress);

    iomux::Reactor& loop_;
    const RunPlan plan_;
    Progress& progress_;
    std::unique_ptr<class StageBarrier> barrier_;
    mutable std::mutex mutex_;
    std::vector<Party*> parties_;    // the running ones, for interrupt()
    bool interrupted_ = false;
    std::string internal_error_;
    std::uint32_t finished_ = 0;     // touched only in loop_'s thread
    iomux::tools::CpuTimes cpu_;
    // The single thread's workload, or the threads themselves, kept until the destructor.
    std::unique_ptr<Workload> inline_work_;
    std::vector<std::thread> threads_;
    std::latch teardown_{1};         // the threads close their connections once it opens
};

}  // namespace stress
