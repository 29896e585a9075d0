// The backend constructors make_poller() dispatches to (internal; not installed).
#pragma once

#include <cstdint>
#include <memory>

#include "poller/poller.hpp"

namespace iomux {

// Python's mapping of a kernel report to events: any condition other than plain IN or OUT
// (ERR, HUP, RDHUP, NVAL) counts as both, so the owner of a dead fd always gets a callback
// and finds the error on its next read or write. Masked by what the fd was registered for.
constexpr std::uint32_t ready_events(bool in, bool out, bool other, std::uint32_t interest) noexcept {
    const std::uint32_t ready = (in || other ? EVENT_READ : 0u) | (out || other ? EVENT_WRITE : 0u);
    return ready & interest;
}

std::unique_ptr<Poller> make_select_poller();
std::unique_ptr<Poller> make_poll_poller();
std::unique_ptr<Poller> make_epoll_poller(bool edge_triggered);
#ifdef IOMUX_HAVE_IO_URING
std::unique_ptr<Poller> make_io_uring_poller();
#endif

}  // namespace iomux
