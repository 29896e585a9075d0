// The programs the echo and connect workloads need, checked once before a sweep so that a
// missing one is one clear note rather than a failure per run.
#pragma once

#include <string>
#include <vector>

#include "echo_bench.hpp"
#include "workloads.hpp"

namespace iomux::compare {

// The setup to run with, and the rows (bare-epoll and backends) whose server exists. Empty
// rows when the stress client itself is missing. Missing programs are reported in ctx.
struct LoadPlan {
    LoadSetup setup;
    std::vector<std::string> rows;
};
LoadPlan plan_load(Context& ctx, std::string_view workload);

}  // namespace iomux::compare
