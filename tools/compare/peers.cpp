#include "peers.hpp"

#include <algorithm>

#include "poller/errors.hpp"

namespace iomux::compare {
namespace {

struct Peer {
    std::string_view name;
    DispatchRun (*dispatch)(HotPotato&, const DispatchConfig&);
};

// Which peers exist is decided by the build (IOMUX_COMPARE_<PEER> from meson.build).
constexpr Peer kPeers[] = {
#ifdef IOMUX_COMPARE_LIBEVENT
    {"libevent", run_libevent_dispatch},
#endif
#ifdef IOMUX_COMPARE_LIBEV
    {"libev", run_libev_dispatch},
#endif
#ifdef IOMUX_COMPARE_LIBUV
    {"libuv", run_libuv_dispatch},
#endif
    {"", nullptr},  // keeps the array non-empty when no peer is built
};

}  // namespace

std::vector<std::string> peer_names() {
    std::vector<std::string> names;
    for (const Peer& p : kPeers)
        if (p.dispatch) names.emplace_back(p.name);
    return names;
}

bool is_peer(std::string_view name) {
    return std::any_of(std::begin(kPeers), std::end(kPeers), [&](const Peer& p) { return p.dispatch && p.name == name; });
}

DispatchRun run_peer_dispatch(std::string_view name, HotPotato& chain, const DispatchConfig& config) {
    for (const Peer& p : kPeers)
        if (p.dispatch && p.name == name) return p.dispatch(chain, config);
    throw ValueError(std::string("no peer library named ") + std::string(name) + " in this build");
}

}  // namespace iomux::compare
