// What the peer echo servers (peer_echo_libevent, peer_echo_libev, peer_echo_libuv) share:
// the protocol of examples/echo_server that iomux_compare drives every server by.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "poller/unique_fd.hpp"

namespace iomux::compare {

// Parses --port N (and --backend NAME, accepted when NAME is this server's library).
// Returns the port, or nullopt with `status` set to the exit status (0 for --help, 2 for
// bad usage, the message already printed).
std::optional<std::uint16_t> parse_echo_args(int argc, char** argv, std::string_view library, int& status);

// A non-blocking TCP listener on 127.0.0.1:port (0: any), SO_REUSEADDR, backlog 4096.
iomux::UniqueFd listen_loopback(std::uint16_t port);

// Prints "listening on 127.0.0.1:PORT" and flushes: the line iomux_compare waits for.
void announce(int listener);

// The most one read takes, as in bare_epoll_echo and examples/echo_server.
inline constexpr std::size_t kReadChunk = 64 * 1024;

}  // namespace iomux::compare
