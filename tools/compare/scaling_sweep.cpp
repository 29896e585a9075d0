// scaling: the echo workload's closed loop served by one loop, by N loops on N threads in
// one process (muduo's one loop per thread), and by N pre-forked worker processes, each
// loop with its own SO_REUSEPORT listener. The bare-epoll row is one loop: the ratios say
// what the extra loops buy over it. Nothing is pinned, since the server's loops need every
// CPU; on a 2-core machine the load generator (itself on --client-threads threads) shares
// those CPUs, so this shows what a second loop is worth when the machine is full.
#include <algorithm>

#include <fmt/format.h>

#include "echo_bench.hpp"
#include "load_plan.hpp"
#include "workloads.hpp"

namespace iomux::compare {
namespace {

struct Layout {
    std::string row;  // the table's backend column
    std::string backend;
    std::vector<std::string> server_args;
};

std::vector<Layout> layouts(const Context& ctx, const LoadPlan& plan) {
    std::vector<Layout> out;
    const auto planned = [&](const std::string& row) { return std::find(plan.rows.begin(), plan.rows.end(), row) != plan.rows.end(); };
    if (planned(std::string(kBareEpoll))) out.push_back({std::string(kBareEpoll), std::string(kBareEpoll), {}});
    const std::string n = std::to_string(ctx.options.loops);
    for (const std::string& backend : ctx.backends) {
        if (!planned(backend)) continue;
        out.push_back({backend, backend, {}});
        out.push_back({fmt::format("{} threads={}", backend, n), backend, {"--threads", n}});
        out.push_back({fmt::format("{} workers={}", backend, n), backend, {"--workers", n}});
    }
    return out;
}

}  // namespace

void run_scaling_workload(Context& ctx) {
    const Options& o = ctx.options;
    LoadPlan plan = plan_load(ctx, "scaling");
    if (plan.rows.empty()) return;
    plan.setup.placement = Placement{};
    const std::vector<Layout> rows = layouts(ctx, plan);
    ctx.note(fmt::format("scaling: {} runs a row, interleaved, {} s each; closed loop, all connections active, {}-byte "
                         "messages, depth {}; nothing pinned; the stress client runs {} threads",
                         o.repeat, o.duration, o.msg_size, o.depth, o.client_threads));
    for (const std::size_t conns : o.scaling_conns) {
        EchoCase c{conns, conns, o.msg_size, o.depth, o.duration, 0};
        c.client_args = {"--threads", std::to_string(o.client_threads)};
        const Params params{{"conns", std::to_string(conns)}, {"load", "closed"}};
        ctx.sweep<Layout>(fmt::format("scaling conns={}", conns), rows, [&](const Layout& layout) {
            c.server_args = layout.server_args;
            const EchoRun r = run_echo(layout.backend, c, plan.setup);
            ctx.report.row("scaling", params, layout.row)
                .add("msgs_per_s", "msgs/s", r.msgs_per_s, false)
                .add("p99_us", "p99 us", r.p99_us)
                .add("server_traffic_cpu_s", "srv CPU s (traffic)", r.server_window_cpu_s);
        }, [](const Layout& layout) { return layout.row; });
    }
}

}  // namespace iomux::compare
