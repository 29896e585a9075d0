#include "scenario.hpp"

#include <fmt/format.h>

namespace stress {
namespace {

std::int64_t now_ns() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }

}  // namespace

Scenario::Scenario(iomux::Reactor& loop, const EngineConfig& config, Progress& progress,
                   StageClock::Probe server_cpu, std::vector<std::string> messages)
    : loop_(loop),
      progress_(progress),
      content_(std::move(messages)),
      engine_(loop, config, content_, *this),
      clock_(std::move(server_cpu)),
      waiting_(config.conns, 0),
      sent_at_(config.conns, 0) {}

RunResult Scenario::run() {
    result_.mode = "scenario";
    result_.messages_expected = std::uint64_t{engine_.size()} * content_.size();
    progress_.begin("connect", [this] {
        return std::pair<std::uint64_t, std::uint64_t>{engine_.connected() + engine_.connect_failed(), engine_.size()};
    });
    stage_open_ = true;
    clock_.start();
    engine_.start();
    loop_.run();
    const Clock::time_point end = finished_at_ != Clock::time_point{} ? finished_at_ : Clock::now();
    if (stage_open_) {
        progress_.end(engine_.expired() ? "the deadline (--timeout) passed" : "stopped");
        stage_open_ = false;
    }
    take_engine_figures(engine_, end, result_);
    if (result_.stages.empty() || result_.stages.front().name != "connect") {
        StageResult connect{"connect", engine_.size(), engine_.connected(), result_.connect_wall_s};
        clock_.lap(connect);
        result_.stages.insert(result_.stages.begin(), connect);
    }
    return std::move(result_);
}

void Scenario::connect_done() {
    const double wall = seconds(engine_.connect_done_at() - engine_.started_at());
    StageResult& stage = result_.stages.emplace_back(StageResult{"connect", engine_.size(), engine_.connected(), wall});
    clock_.lap(stage);
    progress_.end(fmt::format("{} of {} connected in {:.3f} s", engine_.connected(), engine_.size(), wall));
    stage_open_ = false;
    if (!any_open()) {
        finished_at_ = Clock::now();
        return engine_.finish();
    }
    start_phase(0);
}

bool Scenario::any_open() const {
    for (std::uint32_t c = 0; c < engine_.size(); ++c)
        if (engine_.is_open(c)) return true;
    return false;
}

void Scenario::start_phase(std::size_t k) {
    phase_ = k;
    phase_started_ = Clock::now();
    pending_ = in_phase_ = verified_in_phase_ = 0;
    const std::string& message = content_.message(k);
    // Sending may fail a connection on the spot (reset); it then settles its reply at once,
    // and the phase must not end before every connection had its turn.
    starting_ = true;
    for (std::uint32_t c = 0; c < engine_.size(); ++c) {
        if (!engine_.is_open(c)) continue;
        waiting_[c] = 1;
        ++pending_;
        ++in_phase_;
        sent_at_[c] = now_ns();
        engine_.send(c, message.size());
    }
    starting_ = false;
    progress_.begin(fmt::format("message {} ({} bytes)", k + 1, message.size()), [this] {
        return std::pair<std::uint64_t, std::uint64_t>{in_phase_ - pending_, in_phase_};
    });
    stage_open_ = true;
    if (pending_ == 0) phase_done();
}

void Scenario::received(std::uint32_t c, std::uint64_t, std::uint64_t after) {
    // The engine verified every byte against what was sent, so the reply is complete
    // exactly when the stream reaches the end of this message.
    if (!waiting_[c] || after < content_.end_of(phase_)) return;
    waiting_[c] = 0;
    result_.latency.record(now_ns() - sent_at_[c]);
    ++verified_in_phase_;
    ++result_.messages_verified;
    reply_settled();
}

void Scenario::failed(std::uint32_t c) {
    if (!waiting_[c]) return;
    waiting_[c] = 0;
    reply_settled();
}

void Scenario::reply_settled() {
    if (--pending_ > 0 || starting_) return;
    // From the next iteration, not from inside this connection's callback.
    loop_.call_soon([this] { phase_done(); });
}

bool Scenario::partial_reply(std::uint32_t c) const {
    return phase_ != kNone && waiting_[c] && engine_.received(c) > content_.begin_of(phase_);
}

void Scenario::phase_done() {
    if (engine_.stopping()) return;
    const Clock::time_point now = Clock::now();
    const double wall = seconds(now - phase_started_);
    StageResult& stage = result_.stages.emplace_back(
        StageResult{fmt::format("message {}", phase_ + 1), in_phase_, verified_in_phase_, wall});
    clock_.lap(stage);
    progress_.end(fmt::format("{} of {} replies verified in {:.3f} s", verified_in_phase_, in_phase_, wall));
    stage_open_ = false;
    if (phase_ + 1 < content_.size() && any_open()) return start_phase(phase_ + 1);
    finished_at_ = now;
    engine_.finish();
}

}  // namespace stress
