// create_connection: a client connection with a transport and a protocol (asyncio's
// loop.create_connection).
//
//   iomux::create_connection(loop, [] { return std::make_unique<Client>(); }, "127.0.0.1", 8000,
//       [](std::error_code error) { if (error) fmt::print("connect: {}\n", error.message()); });
//
// The connect runs on the loop and never blocks it (a name is resolved synchronously
// first: see resolve() in socket_address.hpp). On success the factory makes the protocol,
// connection_made() runs, then on_done({}); the transport lives on, owned by the loop, until
// connection_lost(). On failure on_done(error) runs and no protocol is made:
// ECONNREFUSED, ETIMEDOUT when options.timeout passes first, ECANCELED when the loop is
// destroyed first, a resolve_category() error for a name that does not resolve, ENOBUFS...
// on_done always runs from the loop, never inside create_connection().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>
#include <system_error>

#include "reactor/protocol.hpp"
#include "reactor/reactor.hpp"

namespace iomux {

struct ConnectOptions {
    // How long the connect may take; zero or less: as long as the kernel tries (about 2
    // minutes of SYN retries on Linux).
    std::chrono::milliseconds timeout{0};
    bool no_delay = true;  // TCP_NODELAY
};

using ConnectCallback = std::function<void(std::error_code)>;

void create_connection(Reactor& loop, ProtocolFactory factory, std::string_view host, std::uint16_t port,
                       ConnectCallback on_done, ConnectOptions options = {});

}  // namespace iomux
