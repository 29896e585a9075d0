#include "load_programs.hpp"

#include <fmt/format.h>

#include "peers.hpp"

namespace iomux::compare {

LoadPlan plan_load(Context& ctx, std::string_view workload) {
    const Options& o = ctx.options;
    LoadPlan plan;
    plan.setup.programs = locate_binaries();
    if (o.echo_server) plan.setup.programs.echo_server = *o.echo_server;
    if (o.stress_client) plan.setup.programs.stress_client = *o.stress_client;
    if (o.bare_echo) plan.setup.programs.bare_echo = *o.bare_echo;
    plan.setup.placement = choose_placement();

    const Binaries& p = plan.setup.programs;
    if (!is_executable(p.stress_client)) {
        ctx.failure(fmt::format("{}: no stress client at {} (build tools/stress_client, or pass --stress-client PATH); skipped",
                                workload, p.stress_client));
        return plan;
    }
    bool echo_missing_said = false;
    for (const std::string& row : ctx.rows()) {
        const bool bare = row == kBareEpoll;
        const bool peer = is_peer(row);
        const std::string server = bare ? p.bare_echo : peer ? p.peer_echo(row) : p.echo_server;
        if (is_executable(server)) {
            plan.rows.push_back(row);
        } else if (peer) {
            ctx.failure(fmt::format("{}: no {} echo server at {}; its row is skipped", workload, row, server));
        } else if (bare) {
            ctx.failure(fmt::format("{}: no bare epoll echo server at {} (pass --bare-echo PATH); its row is skipped", workload, server));
        } else if (!echo_missing_said) {
            ctx.failure(fmt::format("{}: no echo server at {} (build examples/echo_server, or pass --echo-server PATH); "
                                    "the iomux rows are skipped", workload, server));
            echo_missing_said = true;
        }
    }
    return plan;
}

}  // namespace iomux::compare
