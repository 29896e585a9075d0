#include "common/announce.hpp"

#include <cstdio>

#include <fmt/format.h>

#include "reactor/socket_address.hpp"

namespace examples {

void announce(int listener) { announce_port(iomux::local_address(listener).port); }

void announce_port(std::uint16_t port) {
    fmt::print("listening on 127.0.0.1:{}\n", port);
    std::fflush(stdout);
}

}  // namespace examples
