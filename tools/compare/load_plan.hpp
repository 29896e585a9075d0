// What the echo, connect and scaling workloads run: the programs, found beside this one in
// the build tree (build/tools/compare/iomux_compare -> build/examples/echo_server, ...) so
// that a comparison always runs the servers and client of its own build, and the CPUs the
// server and the load generator are pinned to. On two CPUs a closed loop saturates both;
// pinning them apart keeps the scheduler from stacking them on one CPU in some runs and not
// in others, which would make run-to-run noise look like backend cost.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "workloads.hpp"

namespace iomux::compare {

struct Placement {
    std::optional<int> server_cpu, load_cpu;  // nullopt: not pinned
    std::string describe() const;
};

// The first two CPUs this process may run on, or no pinning when it has only one.
Placement choose_placement();

struct LoadSetup {
    std::string echo_server;    // examples/echo_server
    std::string stress_client;  // tools/stress_client/stress_client
    std::string bare_echo;      // tools/compare/bare_epoll_echo
    std::string bare_uring_echo;  // tools/compare/bare_uring_echo
    std::string here;           // tools/compare, where the peer echo servers are
    Placement placement;
    std::string client_backend = "epoll";  // the load generator's own loop, the same for every run

    // The echo server of a row: bare_epoll_echo, bare_uring_echo, peer_echo_NAME, or echo_server.
    std::string server_for(const std::string& row) const;
};

// The setup to run with, and the rows whose server exists (none when the stress client
// itself is missing), checked once before a sweep so that a missing program is one note
// rather than a failure per run.
struct LoadPlan {
    LoadSetup setup;
    std::vector<std::string> rows;
};
LoadPlan plan_load(Context& ctx, std::string_view workload);

}  // namespace iomux::compare
