// connect: the material's scenario (11000 connections, three messages each, every reply
// verified) against each backend's echo server, timed by the client from the first
// connect to the last verified reply.
#include <fmt/format.h>

#include "echo_bench.hpp"
#include "load_plan.hpp"
#include "workloads.hpp"

namespace iomux::compare {

void run_connect_workload(Context& ctx) {
    const Options& o = ctx.options;
    const LoadPlan plan = plan_load(ctx, "connect");
    if (plan.rows.empty()) return;
    const Params params{{"conns", o.connect_conns ? std::to_string(*o.connect_conns) : std::string("11000")},
                        {"scenario", "material"}};
    ctx.note(fmt::format("connect: {} runs a row, interleaved, each the whole scenario", o.repeat));
    ctx.sweep<std::string>("connect", plan.rows, [&](const std::string& backend) {
        const ConnectRun r = run_connect(backend, o.connect_conns, plan.setup);
        ctx.report.row("connect", params, backend)
            .add("wall_s", "wall s", r.wall_s)
            .add("connect_wall_s", "connect s", r.connect_wall_s)
            .add("server_cpu_s", "srv CPU s", r.server_cpu_s)
            .add("server_peak_rss_mib", "srv peak RSS MiB", r.server_peak_rss_mib);
    });
}

}  // namespace iomux::compare
