// A listening TCP socket on 127.0.0.1, set up the way a server under load needs it.
#pragma once

#include <cstdint>

#include "poller/unique_fd.hpp"

namespace examples {

// Non-blocking, close-on-exec, SO_REUSEADDR (a restarted server can bind while old
// connections sit in TIME_WAIT), and a backlog of 4096: a burst of connects waits in the
// kernel instead of being refused. port 0 lets the kernel pick a free port.
// Throws std::system_error.
iomux::UniqueFd listen_tcp(std::uint16_t port);

// The port a bound socket has (what port 0 turned into).
std::uint16_t local_port(int fd);

// Prints "listening on 127.0.0.1:<port>" on stdout and flushes it: tests and scripts that
// start the server read this line to learn the port.
void announce(int listener);

}  // namespace examples
