#include "load_plan.hpp"

#include <sched.h>
#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

#include "peers.hpp"

namespace iomux::compare {
namespace {

bool is_executable(const std::string& path) {
    return !path.empty() && ::access(path.c_str(), X_OK) == 0 && !std::filesystem::is_directory(path);
}

}  // namespace

Placement choose_placement() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) != 0) return {};
    Placement p;
    for (int cpu = 0; cpu < CPU_SETSIZE && !p.load_cpu; ++cpu)
        if (CPU_ISSET(cpu, &set)) (p.server_cpu ? p.load_cpu : p.server_cpu) = cpu;
    return p.load_cpu ? p : Placement{};  // one CPU: pinning both to it would only add contention
}

std::string Placement::describe() const {
    if (!server_cpu || !load_cpu) return "not pinned (one CPU available)";
    return fmt::format("server on CPU {}, load on CPU {}", *server_cpu, *load_cpu);
}

std::string LoadSetup::server_for(const std::string& row) const {
    if (row == kBareEpoll) return bare_echo;
    if (row == kBareIoUring) return bare_uring_echo;
    return is_peer(row) ? here + "/peer_echo_" + row : echo_server;
}

LoadPlan plan_load(Context& ctx, std::string_view workload) {
    namespace fs = std::filesystem;
    const Options& o = ctx.options;
    std::error_code ec;
    const fs::path here = fs::read_symlink("/proc/self/exe", ec).parent_path();  // build/tools/compare
    const fs::path root = here.parent_path().parent_path();                     // build
    LoadPlan plan;
    LoadSetup& s = plan.setup;
    s.echo_server = o.echo_server.value_or((root / "examples" / "echo_server").string());
    s.stress_client = o.stress_client.value_or((root / "tools" / "stress_client" / "stress_client").string());
    s.bare_echo = o.bare_echo.value_or((here / "bare_epoll_echo").string());
    s.bare_uring_echo = o.bare_uring_echo.value_or((here / "bare_uring_echo").string());
    s.here = here.string();
    s.placement = choose_placement();
    if (!is_executable(s.stress_client)) {
        ctx.failure(fmt::format("{}: no stress client at {} (build tools/stress_client, or pass --stress-client PATH); skipped",
                                workload, s.stress_client));
        return plan;
    }
    bool echo_missing_said = false;
    for (const std::string& row : ctx.echo_rows()) {
        const std::string server = s.server_for(row);
        if (is_executable(server)) {
            plan.rows.push_back(row);
        } else if (is_peer(row)) {
            ctx.failure(fmt::format("{}: no {} echo server at {}; its row is skipped", workload, row, server));
        } else if (row == kBareEpoll) {
            ctx.failure(fmt::format("{}: no bare epoll echo server at {} (pass --bare-echo PATH); its row is skipped", workload, server));
        } else if (row == kBareIoUring) {
            ctx.failure(fmt::format("{}: no bare io_uring echo server at {} (pass --bare-uring-echo PATH); its row is skipped",
                                    workload, server));
        } else if (!std::exchange(echo_missing_said, true)) {
            ctx.failure(fmt::format("{}: no echo server at {} (build examples/echo_server, or pass --echo-server PATH); "
                                    "the iomux rows are skipped", workload, server));
        }
    }
    return plan;
}

}  // namespace iomux::compare
