#include "run_result.hpp"

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
    result.abort_reason = engine.abort_reason();
    result.deadline_passed = engine.expired();
}

}  // namespace stress
