#include "sustained.hpp"

#include <cmath>

#include <fmt/format.h>

namespace stress {
namespace {

constexpr auto kTick = std::chrono::milliseconds(1);

}  // namespace

Sustained::Sustained(iomux::Reactor& loop, const EngineConfig& config, Progress& progress, SustainedParams params,
                     StageClock::Probe server_cpu, StageClock::Scope cpu_scope)
    : loop_(loop),
      progress_(progress),
      params_(params),
      protocol_(make_protocol(config.protocol, config.conns, std::make_unique<PatternStream>(params.msg_size))),
      engine_(loop, config, *protocol_, *this),
      lane_of_(config.conns, kIdle),
      clock_(std::move(server_cpu), cpu_scope) {}

Sustained::~Sustained() {
    stop_timer_.cancel();
    tick_timer_.cancel();
}

std::int64_t Sustained::since_t0() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0_).count();
}

RunResult Sustained::run() {
    result_.mode = params_.active == 0 ? "hold" : "sustained";
    progress_.begin("connect", [this] {
        return std::pair<std::uint64_t, std::uint64_t>{engine_.connected() + engine_.connect_failed(), engine_.size()};
    });
    stage_open_ = true;
    clock_.start();
    engine_.start();
    loop_.run();
    const Clock::time_point end = finished_at_ != Clock::time_point{} ? finished_at_ : Clock::now();
    if (stage_open_) progress_.end(engine_.expired() ? "the deadline (--timeout) passed" : "stopped");
    if (t0_ != Clock::time_point{} && traffic_end_ == Clock::time_point{}) {
        traffic_end_ = end;
        bytes_at_end_ = engine_.bytes_verified();
    }
    take_engine_figures(engine_, end, result_);
    const bool traffic = t0_ != Clock::time_point{};
    if (!connect_stage_) {
        connect_stage_ = StageResult{"connect", engine_.size(), engine_.connected(), result_.connect_wall_s};
        clock_.lap(*connect_stage_);
    }
    result_.stages.insert(result_.stages.begin(), *connect_stage_);
    result_.messages_expected = issued_;
    result_.messages_verified = completed_;
    SustainedFigures s;
    s.active = static_cast<std::uint32_t>(lanes_.size());
    s.msg_size = params_.msg_size;
    s.depth = params_.depth;
    s.rate = params_.rate;
    s.window_s = t0_ != Clock::time_point{} ? seconds(traffic_end_ - t0_) : 0.0;
    s.messages = completed_in_window_;
    if (s.window_s > 0) {
        s.msgs_per_s = static_cast<double>(completed_in_window_) / s.window_s;
        s.mb_per_s = static_cast<double>(bytes_at_end_ - bytes_at_t0_) / s.window_s / 1e6;
    }
    s.rate_backlog = rate_backlog_;
    result_.sustained = s;
    if (traffic && params_.active == 0) {
        std::uint32_t open = 0;
        for (std::uint32_t c = 0; c < engine_.size(); ++c) open += engine_.is_open(c);
        clock_.lap(result_.stages.emplace_back(StageResult{"hold", engine_.connected(), open, seconds(end - t0_)}));
    } else if (traffic) {
        clock_.lap(result_.stages.emplace_back(StageResult{"traffic", issued_, completed_, seconds(end - t0_)}));
    }
    return std::move(result_);
}

void Sustained::connect_done() {
    const double wall = seconds(engine_.connect_done_at() - engine_.started_at());
    progress_.end(fmt::format("{} of {} connected in {:.3f} s", engine_.connected(), engine_.size(), wall));
    stage_open_ = false;

    // Active connections spread evenly over the numbers, so their fds (and the server's)
    // are spread over the fd range too, as on a real server.
    const std::uint64_t n = engine_.size();
    for (std::uint64_t k = 0; k < params_.active; ++k) {
        const auto c = static_cast<std::uint32_t>(k * n / params_.active);
        if (!engine_.is_open(c)) continue;
        lane_of_[c] = static_cast<std::uint32_t>(lanes_.size());
        lanes_.push_back(Lane{c});
    }
    live_lanes_ = static_cast<std::uint32_t>(lanes_.size());
    if (lanes_.empty() && (params_.active > 0 || engine_.connected() == 0)) {
        finished_at_ = Clock::now();
        return engine_.finish();
    }
    stamps_.assign(lanes_.size() * params_.depth, 0);

    connect_stage_ = StageResult{"connect", engine_.size(), engine_.connected(), wall};
    clock_.lap(*connect_stage_);
    t0_ = Clock::now();
    bytes_at_t0_ = engine_.bytes_verified();
    stop_timer_ = loop_.call_later(params_.duration, [this] { stop_traffic(); });
    const auto total_ms = std::chrono::duration_cast<std::chrono::milliseconds>(params_.duration).count();
    progress_.begin(lanes_.empty() ? fmt::format("hold ({} open)", engine_.connected())
                                   : fmt::format("traffic ({} active)", lanes_.size()),
                    [this, total_ms] {
        return std::pair<std::uint64_t, std::uint64_t>{
            static_cast<std::uint64_t>(std::min<std::int64_t>(since_t0() / 1'000'000, total_ms)),
            static_cast<std::uint64_t>(total_ms)};
    });
    stage_open_ = true;
    if (params_.rate > 0 && !lanes_.empty()) return tick();
    for (std::uint32_t i = 0; i < lanes_.size(); ++i) {
        for (std::uint32_t d = 0; d < params_.depth; ++d) push(i, 0);
        engine_.send(lanes_[i].conn, params_.depth);
    }
}

void Sustained::push(std::uint32_t lane, std::int64_t stamp) {
    Lane& l = lanes_[lane];
    stamps_[std::size_t{lane} * params_.depth + (l.head + l.count) % params_.depth] = stamp;
    ++l.count;
    ++in_flight_;
    ++issued_;
}

void Sustained::replied(std::uint32_t c, std::uint32_t done) {
    const std::uint32_t lane = lane_of_[c];
    if (lane == kIdle) return;  // cannot happen: nothing was sent, so the protocol failed it
    Lane& l = lanes_[lane];
    const std::int64_t now = since_t0();
    for (std::uint64_t i = 0; i < done; ++i) {
        result_.latency.record(now - stamps_[std::size_t{lane} * params_.depth + l.head]);
        l.head = (l.head + 1) % params_.depth;
        --l.count;
    }
    in_flight_ -= done;
    completed_ += done;
    if (draining_) {
        if (in_flight_ == 0) drained();
        return;
    }
    completed_in_window_ += done;
    if (params_.rate > 0) return;
    for (std::uint64_t i = 0; i < done; ++i) push(lane, now);
    engine_.send(c, done);
}

void Sustained::failed(std::uint32_t c) {
    const std::uint32_t lane = lane_of_[c];
    if (lane == kIdle) return;
    Lane& l = lanes_[lane];
    in_flight_ -= l.count;
    l.count = 0;
    lane_of_[c] = kIdle;
    // Nothing left to measure: end now rather than idle until --duration.
    if (--live_lanes_ == 0 && !draining_) return stop_traffic();
    if (draining_ && in_flight_ == 0) drained();
}

// Open loop: sends what the schedule says is due by now.
void Sustained::tick() {
    if (draining_) return;
    const std::int64_t now = since_t0();
    const auto due = static_cast<std::uint64_t>(std::floor(params_.rate * static_cast<double>(now) / 1e9)) + 1;
    while (issued_ < due) {
        // The next lane with room, round-robin; none means every one is at --depth.
        std::size_t probe = 0;
        while (probe < lanes_.size() &&
               (lane_of_[lanes_[next_lane_].conn] == kIdle || lanes_[next_lane_].count >= params_.depth)) {
            next_lane_ = (next_lane_ + 1) % lanes_.size();
            ++probe;
        }
        if (probe == lanes_.size()) break;
        const auto lane = static_cast<std::uint32_t>(next_lane_);
        next_lane_ = (next_lane_ + 1) % lanes_.size();
        const auto intended = static_cast<std::int64_t>(static_cast<double>(issued_) * 1e9 / params_.rate);
        push(lane, intended);
        engine_.send(lanes_[lane].conn, 1);
    }
    rate_backlog_ = due - issued_;
    tick_timer_ = loop_.call_later(kTick, [this] { tick(); });
}

void Sustained::stop_traffic() {
    if (draining_) return;
    draining_ = true;
    traffic_end_ = Clock::now();
    bytes_at_end_ = engine_.bytes_verified();
    stop_timer_.cancel();
    tick_timer_.cancel();
    const double window = seconds(traffic_end_ - t0_);
    if (lanes_.empty())
        progress_.end(fmt::format("{} connections held for {:.3f} s", engine_.connected(), window));
    else
        progress_.end(fmt::format("{} messages in {:.3f} s, {:.0f} msgs/s", completed_in_window_, window,
                                  window > 0 ? static_cast<double>(completed_in_window_) / window : 0.0));
    stage_open_ = false;
    if (in_flight_ == 0) return drained();
    progress_.begin("drain", [this] { return std::pair<std::uint64_t, std::uint64_t>{0, in_flight_}; });
    stage_open_ = true;
}

void Sustained::drained() {
    if (stage_open_) {
        progress_.end("every message in flight verified");
        stage_open_ = false;
    }
    finished_at_ = Clock::now();
    engine_.finish();
}

}  // namespace stress
