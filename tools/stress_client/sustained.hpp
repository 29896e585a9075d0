// Sustained: a steady load for a fixed time, for throughput and latency figures.
//
// Of --conns connections, --active carry traffic (spread evenly over the connection
// numbers) and the rest stay open and idle: the axis on which select and poll, which pay
// for every registered fd on every wait, fall behind epoll, which pays for the ready ones.
//
// Closed loop (default): each active connection keeps --depth messages of --msg-size in
// flight; each echo that completes sends the next. Open loop (--rate R): R messages a
// second in total are offered on a fixed schedule, round-robin over the active connections
// (at most --depth in flight on each), so two servers can be compared at equal work; a
// message's round trip is timed from when the schedule said to send it, so a server that
// falls behind shows it in the latencies instead of slowing the load (no coordinated
// omission).
//
// After --duration no new messages go out; those in flight are awaited and verified too.
//
// Hold (--hold, no active connection): the connections are made (at --connect-rate) and
// kept idle for --duration, watched: one the server ends or resets fails the run.
//
// Messages are the protocol's requests: echoes of --msg-size bytes by default, or the
// --request / HTTP request, with --depth of them pipelined per connection.
#pragma once

#include <cstdint>
#include <vector>

#include "load_engine.hpp"
#include "progress.hpp"
#include "stage_clock.hpp"
#include "stream_content.hpp"
#include "workload.hpp"

namespace stress {

struct SustainedParams {
    std::uint32_t active = 1;  // 0: hold
    std::uint32_t msg_size = 64;
    std::uint32_t depth = 1;
    Clock::duration duration = std::chrono::seconds(5);
    double rate = 0;  // msgs/s over all active connections; 0: closed loop
};

class Sustained final : public Workload, private LoadEngine::Driver {
public:
    Sustained(iomux::Reactor& loop, const EngineConfig& config, Progress& progress, SustainedParams params,
              StageClock::Probe server_cpu = {}, StageClock::Scope cpu_scope = StageClock::Scope::process);
    ~Sustained() override;

    RunResult run() override;
    void interrupt() override { engine_.interrupt(); }

private:
    // An active connection: the send times of its messages in flight, oldest first, in a
    // ring of `depth` slots of stamps_.
    struct Lane {
        std::uint32_t conn;
        std::uint32_t head = 0;
        std::uint32_t count = 0;
    };
    static constexpr std::uint32_t kIdle = UINT32_MAX;

    void connect_done() override;
    void replied(std::uint32_t conn, std::uint32_t replies) override;
    void failed(std::uint32_t conn) override;

    void push(std::uint32_t lane, std::int64_t stamp);
    void tick();
    void stop_traffic();
    void drained();
    std::int64_t since_t0() const;

    iomux::Reactor& loop_;
    Progress& progress_;
    const SustainedParams params_;
    std::unique_ptr<Protocol> protocol_;
    LoadEngine engine_;
    RunResult result_;

    std::vector<Lane> lanes_;
    std::vector<std::uint32_t> lane_of_;  // per connection: its lane, or kIdle
    std::vector<std::int64_t> stamps_;    // ns since t0_
    std::uint32_t live_lanes_ = 0;
    std::size_t next_lane_ = 0;           // round-robin position of the open loop
    Clock::time_point t0_, traffic_end_, finished_at_;
    StageClock clock_;
    std::optional<StageResult> connect_stage_;
    bool draining_ = false;
    bool stage_open_ = false;
    std::uint64_t in_flight_ = 0, issued_ = 0, completed_ = 0, completed_in_window_ = 0;
    std::uint64_t rate_backlog_ = 0;
    std::uint64_t bytes_at_t0_ = 0, bytes_at_end_ = 0;  // reply bytes read, for MB/s
    iomux::TimerHandle stop_timer_, tick_timer_;
};

}  // namespace stress
