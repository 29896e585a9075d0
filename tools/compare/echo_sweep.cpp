// echo: a closed loop over connections x active share (messages/s and p99 are what a user
// sees), then an open loop at a fixed offered rate. On two cores a closed loop keeps both
// CPUs busy whatever the backend, which hides their differences; at a fixed rate every
// backend does the same work, and the server CPU it needs for it is what separates them.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "echo_bench.hpp"
#include "load_plan.hpp"
#include "workloads.hpp"

namespace iomux::compare {
namespace {

struct SweepCase {
    EchoCase echo;
    Params params;
};

std::vector<SweepCase> cases(const Options& o) {
    std::vector<SweepCase> out;
    const auto add = [&](std::size_t conns, std::size_t active, double rate) {
        EchoCase c{conns, active, o.msg_size, o.depth, o.duration, rate};
        Params p{{"conns", std::to_string(conns)}, {"active", std::to_string(active)},
                 {"load", rate > 0 ? fmt::format("open {:.0f}/s", rate) : "closed"}};
        out.push_back({c, p});
    };
    for (const std::size_t conns : o.conns)
        for (const double share : o.shares)
            add(conns, std::max<std::size_t>(1, static_cast<std::size_t>(std::lround(static_cast<double>(conns) * share))), 0);
    if (o.rate > 0) add(o.open_conns, o.open_conns, o.rate);
    return out;
}

// An open loop compares server CPU for the same work only if every server got that work:
// when the load generator (or a busy machine) could not offer the rate, say so.
void note_unreached_rate(Context& ctx, const SweepCase& c) {
    for (const Row& row : ctx.report.rows) {
        if (row.workload != "echo" || row.params != c.params) continue;
        const Figure* f = row.find("msgs_per_s");
        if (!f || f->samples.empty()) continue;
        const double reached = f->summary().median;
        if (reached < 0.95 * c.echo.rate)
            ctx.note(fmt::format("echo {}: {} reached {:.0f} msgs/s of the {:.0f} offered (median): the load generator "
                                 "or the machine was the limit, so server CPU compares unequal work",
                                 row.case_label(), row.backend, reached, c.echo.rate));
    }
}

}  // namespace

void run_echo_workload(Context& ctx) {
    const Options& o = ctx.options;
    const LoadPlan plan = plan_load(ctx, "echo");
    if (plan.rows.empty()) return;
    ctx.note(fmt::format("echo: {} runs a row, interleaved, {} s of traffic each; {}-byte messages, depth {}; the load "
                         "generator runs on epoll; {}", o.repeat, o.duration, o.msg_size, o.depth, plan.setup.placement.describe()));
    ctx.note("echo: srv CPU (run) is the CPU time of every server thread and worker (/proc schedstat) over the whole client run (connect, traffic, close); "
             "srv CPU (traffic) is the part inside the client's traffic window");
    for (const SweepCase& c : cases(o)) {
        const std::string label = "echo " + Row{"echo", c.params, {}, {}}.case_label();
        ctx.sweep<std::string>(label, plan.rows, [&](const std::string& backend) {
            const EchoRun r = run_echo(backend, c.echo, plan.setup);
            ctx.report.row("echo", c.params, backend)
                .add("msgs_per_s", "msgs/s", r.msgs_per_s, false)
                .add("p99_us", "p99 us", r.p99_us)
                .add("server_cpu_s", "srv CPU s (run)", r.server_cpu_s)
                .add("server_traffic_cpu_s", "srv CPU s (traffic)", r.server_window_cpu_s)
                .add("server_peak_rss_mib", "srv peak RSS MiB", r.server_peak_rss_mib);
        });
        if (c.echo.rate > 0) note_unreached_rate(ctx, c);
    }
}

}  // namespace iomux::compare
