// The "listening on 127.0.0.1:<port>" line every example server prints on stdout when it is
// ready: tests and scripts that start a server read it to learn the port (port 0 lets the
// kernel pick one). Once per server.
#pragma once

#include <cstdint>

namespace examples {

void announce(int listener);
void announce_port(std::uint16_t port);

}  // namespace examples
