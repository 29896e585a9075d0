#include "scenario.hpp"

#include <fmt/format.h>

namespace stress {
namespace {

std::int64_t now_ns() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }

EngineConfig reading_on_demand(EngineConfig config) {
    config.read_on_demand = true;
    return config;
}

}  // namespace

Scenario::Scenario(iomux::Reactor& loop, EngineConfig config, StageBarrier& stages, std::vector<std::string> messages)
    : loop_(loop),
      stages_(stages),
      rounds_(messages.size()),
      protocol_(make_protocol(config.protocol, config.conns, std::make_unique<MessageSequence>(std::move(messages)))),
      engine_(loop, reading_on_demand(config), *protocol_, *this),
      waiting_(config.conns, 0),
      sent_at_(config.conns, 0) {}

Scenario::~Scenario() { leave_barrier(); }

RunResult Scenario::run() {
    result_.mode = "scenario";
    result_.messages_expected = std::uint64_t{engine_.size()} * rounds_;
    stages_.begin("connect", [this] { return progress(); });
    engine_.start();
    loop_.run();
    const Clock::time_point end = finished_at_ != Clock::time_point{} ? finished_at_ : Clock::now();
    leave_barrier();
    take_engine_figures(engine_, end, result_);
    return std::move(result_);
}

void Scenario::leave_barrier() {
    if (!in_barrier_) return;
    in_barrier_ = false;
    stages_.leave(&loop_);
}

// (settled, expected) in the current stage, for the progress bar.
std::pair<std::uint64_t, std::uint64_t> Scenario::progress() const {
    // The next stage's bar is drawn from the barrier's release, before start_phase(): from 0,
    // not from where the last stage ended.
    if (starting_) return {0, engine_.connected()};
    if (phase_ == kNone) return {engine_.connected() + engine_.connect_failed(), engine_.size()};
    return {in_phase_ - pending_, in_phase_};
}

void Scenario::connect_done() {
    const bool go_on = any_open();
    in_barrier_ = starting_ = go_on;
    stages_.arrive(loop_, engine_.size(), engine_.connected(), "message 1",
                   go_on ? std::function<void()>([this] { start_phase(0); }) : std::function<void()>(),
                   [this] { return progress(); });
    if (go_on) return;
    finished_at_ = Clock::now();
    engine_.finish();
}

bool Scenario::any_open() const {
    for (std::uint32_t c = 0; c < engine_.size(); ++c)
        if (engine_.is_open(c)) return true;
    return false;
}

void Scenario::start_phase(std::size_t k) {
    if (engine_.stopping()) return;
    phase_ = k;
    starting_ = false;
    pending_ = in_phase_ = verified_in_phase_ = 0;
    // Sending may fail a connection on the spot (reset); it then settles its reply at once,
    // and the phase must not end before every connection had its turn.
    passing_ = true;
    for (std::uint32_t c = 0; c < engine_.size(); ++c) {
        if (!engine_.is_open(c)) continue;
        waiting_[c] = 1;
        ++pending_;
        ++in_phase_;
        sent_at_[c] = now_ns();
        engine_.send(c, 1);
    }
    read_next_ = 0;
    read_pass();
}

// Reads the replies in the order the messages went out, which is the order an echo server
// answers them in. Stops at the first one that has not arrived: it is watched from now
// on, and when it completes (or fails) the pass goes on from the next connection.
void Scenario::read_pass() {
    if (engine_.stopping()) return;
    passing_ = true;
    while (read_next_ < engine_.size()) {
        const std::uint32_t c = read_next_++;
        if (waiting_[c] && engine_.receive(c) && waiting_[c]) {
            stalled_on_ = c;
            return;
        }
    }
    passing_ = false;
    if (pending_ == 0) phase_done();
}

void Scenario::replied(std::uint32_t c, std::uint32_t) {
    if (!waiting_[c]) return;
    result_.latency.record(now_ns() - sent_at_[c]);
    ++verified_in_phase_;
    ++result_.messages_verified;
    settled(c);
}

void Scenario::failed(std::uint32_t c) {
    if (waiting_[c]) settled(c);
}

void Scenario::settled(std::uint32_t c) {
    waiting_[c] = 0;
    --pending_;
    // Both from the next iteration, not from inside this connection's callback.
    if (c == stalled_on_) {
        stalled_on_ = kNoConn;
        loop_.call_soon([this] { read_pass(); });
    } else if (pending_ == 0 && !passing_) {
        loop_.call_soon([this] { phase_done(); });
    }
}

void Scenario::phase_done() {
    if (engine_.stopping()) return;
    const bool go_on = phase_ + 1 < rounds_ && any_open();
    in_barrier_ = starting_ = go_on;
    const std::size_t next = phase_ + 1;
    stages_.arrive(loop_, in_phase_, verified_in_phase_, fmt::format("message {}", next + 1),
                   go_on ? std::function<void()>([this, next] { start_phase(next); }) : std::function<void()>(),
                   [this] { return progress(); });
    if (go_on) return;
    finished_at_ = Clock::now();
    engine_.finish();
}

}  // namespace stress
