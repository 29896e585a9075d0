// dispatch: for each N, one set of socket pairs shared by every loop, so that all backends
// see the same fd numbers (select's cost depends on the highest one).
#include <algorithm>
#include <exception>

#include <fmt/format.h>

#include "common/fd_limit.hpp"
#include "dispatch_bench.hpp"
#include "socket_pairs.hpp"
#include "workloads.hpp"

namespace iomux::compare {

void run_dispatch_workload(Context& ctx) {
    const Options& o = ctx.options;
    const std::size_t limit = tools::raise_fd_limit();
    const std::size_t cap = tools::max_socket_pairs(limit);
    std::vector<std::size_t> sweep;
    for (const std::size_t n : o.pairs) {
        const std::size_t capped = std::min(n, cap);
        if (capped != n)
            ctx.note(fmt::format("dispatch: N={} needs {} fds but RLIMIT_NOFILE is {} (the hard limit here); capped at N={}",
                                 n, 2 * n, limit, capped));
        if (std::find(sweep.begin(), sweep.end(), capped) == sweep.end()) sweep.push_back(capped);
    }
    DispatchConfig config;
    config.active = o.active;
    config.writes = o.writes;
    config.rounds = o.rounds;

    for (const std::size_t n : sweep) {
        const Params params{{"n", std::to_string(n)}, {"active", std::to_string(std::min(o.active, n))},
                            {"writes", std::to_string(o.writes)}};
        std::vector<SocketPair> pairs;
        try {
            pairs = make_socket_pairs(n);
        } catch (const std::exception& e) {
            ctx.failure(fmt::format("dispatch N={}: {}", n, e.what()));
            continue;
        }
        for (std::size_t run = 0; run < o.repeat; ++run) {
            for (const std::string& backend : run_order(ctx.rows(), run)) {
                ctx.progress(fmt::format("dispatch N={} run {}/{} {}", n, run + 1, o.repeat, backend));
                try {
                    const DispatchRun r = run_dispatch(backend, pairs, config);
                    // Looked up one at a time: adding a figure may move the others.
                    Row& row = ctx.report.row("dispatch", params, backend);
                    row.figure("loop_us", "loop us/round").samples.push_back(r.loop_us);
                    row.figure("total_us", "total us/round").samples.push_back(r.total_us);
                    row.figure("readd_us", "re-add us/round").samples.push_back(r.readd_us);
                } catch (const std::exception& e) {
                    ctx.failure(fmt::format("dispatch N={} {} run {}: {}", n, backend, run + 1, e.what()));
                }
            }
        }
    }
}

}  // namespace iomux::compare
