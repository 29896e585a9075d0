// A listening TCP socket on 127.0.0.1, set up the way a server under load needs it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "poller/unique_fd.hpp"

namespace examples {

// Non-blocking, close-on-exec, SO_REUSEADDR (a restarted server can bind while old
// connections sit in TIME_WAIT), and a backlog of 4096: a burst of connects waits in the
// kernel instead of being refused. port 0 lets the kernel pick a free port. reuse_port sets
// SO_REUSEPORT: sockets that all set it may listen on one port.
// Throws std::system_error.
iomux::UniqueFd listen_tcp(std::uint16_t port, bool reuse_port = false);

// One listening fd per event loop, all on one port (port 0: the first picks it).
//  - shared == false: n sockets with SO_REUSEPORT. The kernel gives each connection to one
//    of them by a hash of the client's address and port: each loop has its own accept queue
//    and no loop wakes for another's connection. A socket whose process dies takes the
//    connections in its queue with it; new ones go to the rest.
//  - shared == true: one socket and n - 1 dup()s of it. Every loop watching it wakes for
//    each connection and all but one find nothing to accept (the thundering herd), but an
//    idle loop takes work a busy one leaves.
// n == 1 is one plain socket either way.
std::vector<iomux::UniqueFd> listen_tcp_for_loops(std::uint16_t port, std::size_t n, bool shared);

// The port a bound socket has (what port 0 turned into).
std::uint16_t local_port(int fd);

// Prints "listening on 127.0.0.1:<port>" on stdout and flushes it: tests and scripts that
// start the server read this line to learn the port. Once per server, when it is ready.
void announce(int listener);
void announce_port(std::uint16_t port);

}  // namespace examples
