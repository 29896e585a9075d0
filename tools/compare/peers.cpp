#include "peers.hpp"

#include <algorithm>

#include "poller/errors.hpp"

namespace iomux::compare {
namespace {

struct Peer {
    std::string_view name;
    DispatchRun (*dispatch)(HotPotato&, const DispatchConfig&);  // nullptr: echo only
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
#ifdef IOMUX_COMPARE_ASIO
    {"asio", run_asio_dispatch},
#endif
#ifdef IOMUX_COMPARE_ASIO_IO_URING
    {"asio-io_uring", nullptr},
#endif
    {"", nullptr},  // keeps the array non-empty when no peer is built
};

const Peer* find(std::string_view name) {
    const auto p = std::find_if(std::begin(kPeers), std::end(kPeers), [&](const Peer& p) { return p.name == name; });
    return p == std::end(kPeers) || name.empty() ? nullptr : p;
}

}  // namespace

std::vector<std::string> peer_names() {
    std::vector<std::string> names;
    for (const Peer& p : kPeers)
        if (!p.name.empty()) names.emplace_back(p.name);
    return names;
}

bool is_peer(std::string_view name) { return find(name) != nullptr; }

bool has_dispatch(std::string_view name) {
    const Peer* p = find(name);
    return p && p->dispatch;
}

DispatchRun run_peer_dispatch(std::string_view name, HotPotato& chain, const DispatchConfig& config) {
    if (const Peer* p = find(name); p && p->dispatch) return p->dispatch(chain, config);
    throw ValueError(std::string("no peer library with a dispatch loop named ") + std::string(name) + " in this build");
}

}  // namespace iomux::compare
