// Results past one process and one machine: a worker's or a whole run's result (a
// WorkerReport) added into a Report, --result-file, and `stress_client merge FILE...`,
// which adds saved results up exactly as the parent of --workers adds its workers'.
#pragma once

#include <string>

#include "report.hpp"
#include "result_codec.hpp"

namespace stress {

// Adds part's figures to report (run merged, CPU summed); its internal error, if any,
// becomes *internal_error unless one is there already, prefixed with `who`.
void add_part(Report& report, const WorkerReport& part, const std::string& who, std::string* internal_error);

// Writes result as JSON to path; throws std::runtime_error saying why it could not.
void write_result(const std::string& path, const WorkerReport& result);

// `stress_client merge [--json] [--result-file OUT] FILE...` (argv[0] is "merge"): the
// merged report, exit 0 (passed), 1 (failed) or 2 (bad usage, unreadable files, or files
// of different scenarios).
int run_merge(int argc, const char* const* argv);

}  // namespace stress
