// What the comparison's own echo servers (bare_epoll_echo, peer_echo_*) share: the protocol
// of examples/echo_server that iomux_compare drives every server by.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "poller/unique_fd.hpp"

namespace iomux::compare {

// The command line: --port N, and --backend NAME, accepted when NAME is `backend` (callers
// treat every echo server alike). Raises the fd limit for 11000 connections. Returns the
// port, or nullopt with `status` the exit status (0 after --help, 2 after bad usage).
std::optional<std::uint16_t> parse_echo_args(int argc, char** argv, const std::string& program,
                                             const std::string& summary, const std::string& backend, int& status);

// A non-blocking TCP listener on 127.0.0.1:port (0: any), SO_REUSEADDR, backlog 4096.
iomux::UniqueFd listen_loopback(std::uint16_t port);

// Prints "listening on 127.0.0.1:PORT" and flushes: the line iomux_compare waits for.
void announce(int listener);

// The most one read takes, as in examples/echo_server.
inline constexpr std::size_t kReadChunk = 64 * 1024;

}  // namespace iomux::compare
