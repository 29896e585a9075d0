// Peer rows: the libraries users would otherwise pick (libevent, libev, libuv, asio) doing
// the same work as iomux, each on its epoll backend with its usual API, and asio once more
// on its io_uring backend (echo only: asio's backend is chosen when it is compiled, and one
// program cannot hold both). Each is compiled in when its Debian -dev package was found at
// configure time (see meson.build).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "dispatch_bench.hpp"
#include "hot_potato.hpp"

namespace iomux::compare {

// The peers this build has, in a fixed order; the echo workloads run them all (each has a
// peer_echo_NAME server), dispatch those with a dispatch loop.
std::vector<std::string> peer_names();
bool is_peer(std::string_view name);
bool has_dispatch(std::string_view name);

// The dispatch workload on a peer's loop (dispatch_rounds.hpp does the timing).
DispatchRun run_peer_dispatch(std::string_view name, HotPotato& chain, const DispatchConfig& config);

// One per peer file (peer_libevent.cpp, ...), present only when that peer is built.
DispatchRun run_libevent_dispatch(HotPotato& chain, const DispatchConfig& config);
DispatchRun run_libev_dispatch(HotPotato& chain, const DispatchConfig& config);
DispatchRun run_libuv_dispatch(HotPotato& chain, const DispatchConfig& config);
DispatchRun run_asio_dispatch(HotPotato& chain, const DispatchConfig& config);

}  // namespace iomux::compare
