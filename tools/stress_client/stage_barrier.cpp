#include "stage_barrier.hpp"

#include <fmt/format.h>

namespace stress {

StageBarrier::StageBarrier(std::size_t parties, Progress& progress, StageClock::Probe server_cpu)
    : parties_(parties), alone_(parties == 1), progress_(progress), clock_(std::move(server_cpu)) {}

void StageBarrier::begin(std::string name, Progress::Counter counter) {
    const std::lock_guard lock(mutex_);
    if (begun_) return;
    begun_ = true;
    name_ = std::move(name);
    began_ = Clock::now();
    in_stage_ = true;
    clock_.start();
    progress_.begin(name_, alone_ ? std::move(counter) : Progress::Counter{});
}

void StageBarrier::arrive(iomux::Reactor& loop, std::uint64_t expected, std::uint64_t done, std::string next,
                          std::function<void()> go, Progress::Counter counter) {
    const std::lock_guard lock(mutex_);
    expected_ += expected;
    done_ += done;
    if (go) {
        waiting_.push_back(Waiter{&loop, std::move(go)});
        next_ = std::move(next);
        next_counter_ = std::move(counter);
    } else {
        --parties_;
    }
    if (waiting_.size() == parties_) release();
}

void StageBarrier::leave(iomux::Reactor* loop) {
    const std::lock_guard lock(mutex_);
    std::erase_if(waiting_, [&](const Waiter& w) { return w.loop == loop; });
    --parties_;
    if (parties_ > 0 && waiting_.size() == parties_) return release();
    if (parties_ > 0 || !in_stage_) return;
    // Everyone stopped in the middle of this stage. The connect stage is reported even
    // then (how many connections were made is the first thing to know); a message stage
    // that did not finish is not a stage result.
    progress_.end("stopped");
    if (stages_.empty()) {
        StageResult& stage = stages_.emplace_back(name_, expected_, done_, seconds(Clock::now() - began_));
        clock_.lap(stage);
    }
    in_stage_ = false;
}

void StageBarrier::release() {
    const double wall = seconds(Clock::now() - began_);
    StageResult& stage = stages_.emplace_back(name_, expected_, done_, wall);
    clock_.lap(stage);
    progress_.end(name_ == "connect" ? fmt::format("{} of {} connected in {:.3f} s", done_, expected_, wall)
                                     : fmt::format("{} of {} replies verified in {:.3f} s", done_, expected_, wall));
    expected_ = done_ = 0;
    in_stage_ = !waiting_.empty();
    if (in_stage_) {
        name_ = std::move(next_);
        began_ = Clock::now();
        progress_.begin(name_, alone_ ? std::move(next_counter_) : Progress::Counter{});
    }
    for (Waiter& w : waiting_) {
        if (alone_)
            w.loop->call_soon(std::move(w.go));
        else
            w.loop->call_soon_threadsafe(std::move(w.go));
    }
    waiting_.clear();
}

std::vector<StageResult> StageBarrier::stages() const {
    const std::lock_guard lock(mutex_);
    return stages_;
}

}  // namespace stress
