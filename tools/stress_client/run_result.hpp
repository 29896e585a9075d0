// RunResult: everything a run measured, for the summary table and the JSON (report.hpp).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/process_stats.hpp"
#include "error_kind.hpp"
#include "histogram.hpp"
#include "load_engine.hpp"

namespace stress {

// One stage: the connect, one message of the scenario, or sustained traffic.
struct StageResult {
    StageResult() = default;
    StageResult(std::string name_, std::uint64_t expected_, std::uint64_t done_, double wall_s_)
        : name(std::move(name_)), expected(expected_), done(done_), wall_s(wall_s_) {}

    std::string name;
    std::uint64_t expected = 0;  // connections (connect) or replies (messages) it had to finish
    std::uint64_t done = 0;      // of those, made / verified
    double wall_s = 0;
    double cpu_s = 0;            // this client's CPU (user + sys) during the stage
    std::optional<double> server_cpu_s;  // the spawned server's, when there is one
};

struct SustainedFigures {
    std::uint32_t active = 0;       // connections that carried traffic
    std::uint32_t msg_size = 0;
    std::uint32_t depth = 0;
    double rate = 0;                // offered msgs/s, 0 = closed loop
    double window_s = 0;            // how long traffic was offered (--duration, or less)
    std::uint64_t messages = 0;     // completed within the window
    double msgs_per_s = 0;
    double mb_per_s = 0;            // echoed payload, one direction, 10^6 bytes per second
    std::uint64_t rate_backlog = 0; // offered by --rate but never sent: every lane was at --depth
};

struct RunResult {
    std::string mode;  // "scenario", "sustained" or "hold"
    std::string protocol = "echo";  // "echo", "expect" or "http"
    std::uint32_t conns_requested = 0;
    std::uint32_t conns_made = 0;
    std::uint64_t connect_attempts = 0;
    double connect_wall_s = 0;  // start to the last connection made (or given up)
    double wall_s = 0;          // start to the last reply verified (or the stop)
    std::vector<StageResult> stages;
    std::uint64_t messages_expected = 0;
    std::uint64_t messages_verified = 0;
    std::uint64_t bytes_sent = 0;
    std::uint64_t bytes_verified = 0;
    LatencyHistogram latency;  // send of a message to the last byte of its reply
    LatencyHistogram connect_latency;  // socket() to established, per connection made
    std::uint64_t reconnects = 0;      // connections the server ended between replies, made again
    std::map<std::string, std::uint64_t> statuses;  // HTTP replies by status
    ErrorLog errors;
    std::string abort_reason;  // why the run was cut short as a whole, or empty
    bool deadline_passed = false;
    std::optional<SustainedFigures> sustained;

    // Every connection made, every reply verified, nothing failed.
    bool complete() const noexcept {
        return conns_made == conns_requested && errors.total() == 0 && messages_verified == messages_expected &&
               abort_reason.empty() && !deadline_passed;
    }
};

// What the engine counted, into result; end is when the workload finished (or stopped).
void take_engine_figures(const LoadEngine& engine, Clock::time_point end, RunResult& result);

// Adds a part of a run (a thread's or a worker's share of the connections) to total:
// counts and histograms add up, times are the longest, stages pair up by position (wall
// the longest, CPU summed, the server's CPU taken from the first part that has it), and
// the first abort reason wins.
void merge_into(RunResult& total, const RunResult& part);

inline double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace stress
