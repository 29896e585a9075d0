#include "run_result.hpp"

#include <algorithm>

namespace stress {

void take_engine_figures(const LoadEngine& engine, Clock::time_point end, RunResult& result) {
    const Clock::time_point start = engine.started_at();
    result.conns_requested = engine.size();
    result.conns_made = engine.connected();
    result.connect_attempts = engine.connect_attempts();
    result.connect_wall_s = seconds((engine.connecting_done() ? engine.connect_done_at() : end) - start);
    result.wall_s = seconds(end - start);
    result.bytes_sent = engine.bytes_sent();
    result.bytes_verified = engine.bytes_verified();
    result.errors = engine.errors();
    result.connect_latency = engine.connect_latency();
    result.reconnects = engine.reconnects();
    result.statuses = engine.protocol().statuses();
    result.protocol = engine.protocol().name();
    result.abort_reason = engine.abort_reason();
    result.deadline_passed = engine.expired();
}

void merge_into(RunResult& total, const RunResult& part) {
    if (total.mode.empty()) total.mode = part.mode, total.protocol = part.protocol;
    total.conns_requested += part.conns_requested;
    total.conns_made += part.conns_made;
    total.connect_attempts += part.connect_attempts;
    total.connect_wall_s = std::max(total.connect_wall_s, part.connect_wall_s);
    total.wall_s = std::max(total.wall_s, part.wall_s);
    for (std::size_t i = 0; i < part.stages.size(); ++i) {
        const StageResult& p = part.stages[i];
        if (i == total.stages.size()) {
            total.stages.push_back(p);
            continue;
        }
        StageResult& t = total.stages[i];
        t.expected += p.expected;
        t.done += p.done;
        t.wall_s = std::max(t.wall_s, p.wall_s);
        t.cpu_s += p.cpu_s;
        if (!t.server_cpu_s) t.server_cpu_s = p.server_cpu_s;
    }
    total.messages_expected += part.messages_expected;
    total.messages_verified += part.messages_verified;
    total.bytes_sent += part.bytes_sent;
    total.bytes_verified += part.bytes_verified;
    total.latency.merge(part.latency);
    total.connect_latency.merge(part.connect_latency);
    total.reconnects += part.reconnects;
    for (const auto& [status, n] : part.statuses) total.statuses[status] += n;
    total.errors.merge(part.errors);
    if (total.abort_reason.empty()) total.abort_reason = part.abort_reason;
    total.deadline_passed = total.deadline_passed || part.deadline_passed;
    if (part.sustained) {
        if (!total.sustained) {
            total.sustained = part.sustained;
            return;
        }
        SustainedFigures& t = *total.sustained;
        const SustainedFigures& p = *part.sustained;
        t.active += p.active;
        t.rate += p.rate;
        t.window_s = std::max(t.window_s, p.window_s);
        t.messages += p.messages;
        t.msgs_per_s += p.msgs_per_s;  // each part's rate over its own window
        t.mb_per_s += p.mb_per_s;
        t.rate_backlog += p.rate_backlog;
    }
}

}  // namespace stress
