// connect: the material's scenario (11000 connections, three messages each, every reply
// verified) against each backend's echo server, timed by the client from the first
// connect to the last verified reply.
#include <fmt/format.h>

#include "echo_bench.hpp"
#include "load_programs.hpp"
#include "workloads.hpp"

namespace iomux::compare {

void run_connect_workload(Context& ctx) {
    const Options& o = ctx.options;
    const LoadPlan plan = plan_load(ctx, "connect");
    if (plan.rows.empty()) return;
    const Params params{{"conns", o.connect_conns ? std::to_string(*o.connect_conns) : std::string("11000")},
                        {"scenario", "material"}};
    for (std::size_t run = 0; run < o.repeat; ++run) {
        for (const std::string& backend : run_order(plan.rows, run)) {
            ctx.progress(fmt::format("connect run {}/{} {}", run + 1, o.repeat, backend));
            try {
                const ConnectRun r = run_connect(backend, o.connect_conns, plan.setup);
                Row& row = ctx.report.row("connect", params, backend);
                row.figure("wall_s", "wall s").samples.push_back(r.wall_s);
                row.figure("connect_wall_s", "connect s").samples.push_back(r.connect_wall_s);
                row.figure("server_cpu_s", "srv CPU s").samples.push_back(r.server_cpu_s);
                row.figure("server_peak_rss_mib", "srv peak RSS MiB").samples.push_back(r.server_peak_rss_mib);
            } catch (const std::exception& e) {
                ctx.failure(fmt::format("connect {} run {}: {}", backend, run + 1, e.what()));
            }
        }
    }
}

}  // namespace iomux::compare
