// The programs the echo and connect workloads start, found beside this one in the build
// tree (build/tools/compare/iomux_compare -> build/examples/echo_server, ...), so a
// comparison always runs the servers and client of the same build.
#pragma once

#include <string>

namespace iomux::compare {

struct Binaries {
    std::string echo_server;    // examples/echo_server
    std::string stress_client;  // tools/stress_client/stress_client
    std::string bare_echo;      // tools/compare/bare_epoll_echo
    std::string here;           // tools/compare, where the peer echo servers are

    // The echo server of a peer library: tools/compare/peer_echo_NAME.
    std::string peer_echo(const std::string& peer) const { return here + "/peer_echo_" + peer; }
};

// Paths relative to /proc/self/exe; they may not exist (check with is_executable).
Binaries locate_binaries();
bool is_executable(const std::string& path);

}  // namespace iomux::compare
