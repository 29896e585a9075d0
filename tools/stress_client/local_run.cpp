#include "local_run.hpp"

#include <exception>
#include <thread>

#include <fmt/format.h>

#include "scenario.hpp"
#include "stage_barrier.hpp"

namespace stress {

// A thread's reactor and workload, published for interrupt() while they exist.
struct LocalRun::Party {
    iomux::Reactor* loop;
    Workload* work;
};

LocalRun::LocalRun(iomux::Reactor& loop, RunPlan plan, Progress& progress)
    : loop_(loop),
      plan_(std::move(plan)),
      progress_(progress),
      barrier_(std::make_unique<StageBarrier>(plan_.threads, progress, plan_.server_cpu)) {
    if (plan_.threads == 0 || plan_.threads > plan_.engine.conns)
        throw std::invalid_argument("LocalRun needs from 1 to --conns threads");
}

LocalRun::~LocalRun() {
    teardown_.count_down();
    for (std::thread& th : threads_) th.join();
}

RunPlan share_of(const RunPlan& plan, std::uint32_t index, std::uint32_t parts) {
    auto part = [&](std::uint64_t n) {
        return static_cast<std::uint32_t>((index + 1) * n / parts - index * n / parts);
    };
    RunPlan share = plan;
    share.engine.conns = part(plan.engine.conns);
    share.engine.first_conn = plan.engine.first_conn + static_cast<std::uint32_t>(index * std::uint64_t{plan.engine.conns} / parts);
    share.engine.connect_rate = plan.engine.connect_rate / parts;
    SustainedParams& s = share.sustained_params;
    s.active = part(plan.sustained_params.active);
    s.rate = plan.sustained_params.active ? plan.sustained_params.rate * s.active / plan.sustained_params.active : 0;
    return share;
}

std::unique_ptr<Workload> LocalRun::make_workload(iomux::Reactor& loop, std::size_t t, Progress& progress) {
    const RunPlan share = share_of(plan_, static_cast<std::uint32_t>(t), plan_.threads);
    if (!plan_.sustained) return std::make_unique<Scenario>(loop, share.engine, *barrier_);
    // The server's CPU per stage from one thread only: the threads' stages overlap.
    return std::make_unique<Sustained>(loop, share.engine, progress, share.sustained_params,
                                       t == 0 ? plan_.server_cpu : StageClock::Probe{},
                                       plan_.threads == 1 ? StageClock::Scope::process : StageClock::Scope::thread);
}

RunResult LocalRun::run() {
    RunResult total;
    const iomux::tools::CpuTimes before = iomux::tools::self_cpu();
    if (plan_.threads == 1) {
        inline_work_ = make_workload(loop_, 0, progress_);
        Workload* work = inline_work_.get();
        Party self{&loop_, work};
        {
            const std::lock_guard lock(mutex_);
            parties_.push_back(&self);
            if (interrupted_) work->interrupt();
        }
        // Unlocked meanwhile: interrupt() comes from this very loop.
        const RunResult r = work->run();
        {
            const std::lock_guard lock(mutex_);
            parties_.clear();
        }
        cpu_ = iomux::tools::self_cpu() - before;
        merge_into(total, r);
    } else {
        std::vector<RunResult> results(plan_.threads);
        for (std::size_t t = 0; t < plan_.threads; ++t)
            threads_.emplace_back([this, t, &results] { run_party(t, results[t]); });
        loop_.run();
        cpu_ = iomux::tools::self_cpu() - before;
        for (const RunResult& r : results) merge_into(total, r);
    }
    if (!plan_.sustained) total.stages = barrier_->stages();
    return total;
}

void LocalRun::run_party(std::size_t t, RunResult& out) {
    auto record = [this](std::string what) {
        const std::lock_guard lock(mutex_);
        if (internal_error_.empty()) internal_error_ = std::move(what);
    };
    bool joined = false;  // the workload exists: it leaves the barrier itself, whatever happens
    try {
        iomux::Reactor loop(plan_.backend);
        loop.set_exception_handler([&](int fd, std::exception_ptr e) {
            record(fmt::format("internal error in a callback (thread {}, fd {}): {}", t, fd, iomux::describe_exception(e)));
            loop.stop();
        });
        Progress quiet(loop, Progress::Style::off);
        const std::unique_ptr<Workload> work = make_workload(loop, t, quiet);
        joined = true;
        Party self{&loop, work.get()};
        {
            const std::lock_guard lock(mutex_);
            parties_.push_back(&self);
            if (interrupted_) loop.call_soon([&] { work->interrupt(); });
        }
        out = work->run();
        {
            const std::lock_guard lock(mutex_);
            std::erase(parties_, &self);
        }
        finished();
        teardown_.wait();
    } catch (const std::exception& e) {
        record(fmt::format("thread {}: {}", t, e.what()));
        if (!joined && !plan_.sustained) barrier_->leave(nullptr);
        finished();
    }
}

// In a party's thread: tells the calling thread's loop, which stops when all are done.
void LocalRun::finished() {
    loop_.call_soon_threadsafe([this] {
        if (++finished_ == plan_.threads) loop_.stop();
    });
}

void LocalRun::interrupt() {
    const std::lock_guard lock(mutex_);
    interrupted_ = true;
    for (Party* p : parties_) {
        if (p->loop == &loop_)
            p->work->interrupt();
        else
            p->loop->call_soon_threadsafe([w = p->work] { w->interrupt(); });
    }
}

std::string LocalRun::internal_error() const {
    const std::lock_guard lock(mutex_);
    return internal_error_;
}

}  // namespace stress
