// dispatch: for each N, one set of socket pairs shared by every loop, so that all backends
// see the same fd numbers (select's cost depends on the highest one).
#include <algorithm>
#include <exception>

#include <fmt/format.h>

#include "common/fd_limit.hpp"
#include "dispatch_bench.hpp"
#include "peers.hpp"
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
    const DispatchConfig config{o.active, o.writes, o.rounds};
    ctx.note(fmt::format("dispatch: {} runs a row, interleaved; a run is {} timed rounds after a warm-up one, its figure "
                         "their median", o.repeat, o.rounds));
    std::vector<std::string> rows = ctx.rows();
    std::erase_if(rows, [](const std::string& r) { return is_peer(r) && !has_dispatch(r); });
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
        ctx.sweep<std::string>(fmt::format("dispatch N={}", n), rows, [&](const std::string& backend) {
            const DispatchRun r = run_dispatch(backend, pairs, config);
            ctx.report.row("dispatch", params, backend)
                .add("loop_us", "loop us/round", r.loop_us)
                .add("total_us", "total us/round", r.total_us)
                .add("readd_us", "re-add us/round", r.readd_us);
        });
    }
}

}  // namespace iomux::compare
