// What a --workers process sends its parent over a pipe when it is done: its RunResult,
// its CPU time and any internal error, as one JSON document, with the latency histograms'
// buckets so that the parent merges histograms rather than percentiles. A --result-file is
// the same document, so that `stress_client merge` merges runs exactly as --workers does.
#pragma once

#include <string>
#include <string_view>

#include "common/process_stats.hpp"
#include "run_result.hpp"

namespace stress {

struct WorkerReport {
    RunResult run;
    iomux::tools::CpuTimes cpu;   // the worker's own, over its run
    std::string internal_error;   // an exception that escaped a callback, or empty
    // In a --result-file: what was run against what. Results merge only when their
    // scenarios are the same (mode, protocol, message size, depth, duration).
    std::string scenario, host;
    std::uint16_t port = 0;
};

std::string encode(const WorkerReport& report);
// Throws std::invalid_argument when text is not a whole report (a worker that died while
// writing it leaves a document cut short).
WorkerReport decode(std::string_view text);

}  // namespace stress
