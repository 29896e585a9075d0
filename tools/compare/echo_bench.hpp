// One run of a server under load: start the echo server of a backend (or the bare epoll
// one), pinned to its CPU, drive it with tools/stress_client pinned to the other, and read
// what it cost from /proc while it is still alive.
#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "load_plan.hpp"

namespace iomux::compare {

// A run that produced no figures: the message says which program failed and how.
struct RunError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The sustained mode of the stress client: `active` of `conns` connections carry traffic;
// rate 0 is a closed loop, otherwise messages/s offered in total (open loop).
struct EchoCase {
    std::size_t conns = 0, active = 0, msg_size = 64, depth = 1;
    double duration_s = 2, rate = 0;
    std::vector<std::string> server_args = {};  // e.g. {"--threads", "2"}
    std::vector<std::string> client_args = {};
};

struct EchoRun {
    double msgs_per_s = 0;
    double p99_us = 0;
    double server_cpu_s = 0;         // CPU of every server thread and worker over the client's whole run
    double server_window_cpu_s = 0;  // of that, during the traffic window alone (sampled)
    double window_s = 0;             // the traffic window the client reports
    double server_peak_rss_mib = 0;  // VmHWM
};

struct ConnectRun {
    double wall_s = 0;          // the client's: first connect to last reply verified
    double connect_wall_s = 0;  // the client's: until the last connection was made
    double server_cpu_s = 0;
    double server_peak_rss_mib = 0;
};

// backend: an iomux backend name, kBareEpoll for bare_epoll_echo, kBareIoUring for
// bare_uring_echo, or a peer library for its
// peer_echo_NAME. Throw RunError.
EchoRun run_echo(const std::string& backend, const EchoCase& c, const LoadSetup& setup);
ConnectRun run_connect(const std::string& backend, std::optional<std::size_t> conns, const LoadSetup& setup);

}  // namespace iomux::compare
