// Acceptor: takes new connections off a listening socket for a Reactor, fairly, and
// without spinning when the process runs out of file descriptors.
//
// Each time the listener is readable it accepts up to a fixed number of connections (so a
// connect storm cannot starve established clients) and hands each to on_accept as a
// non-blocking socket with TCP_NODELAY. When accept() fails with EMFILE, the pending
// connection stays in the backlog and a level-triggered listener would be reported
// readable forever: a 100% CPU loop (libev's "special problem of accept()ing when you
// can't"). The Acceptor instead closes a spare fd it keeps for the purpose, accepts the
// connection with it and closes that at once (the client sees the connection end instead
// of hanging), and re-opens the spare. If even that fails it stops watching the listener
// for a short while.
//
// A listener that several loops accept from (echo_server --shared-listener) wakes each of
// them for every connection, and all but one find the backlog empty: stats().idle_wakeups
// counts those, and Wakeup::exclusive (EPOLLEXCLUSIVE) avoids most of them.
#pragma once

#include <cstdint>
#include <functional>

#include "poller/unique_fd.hpp"
#include "reactor/reactor.hpp"

namespace examples {

class Acceptor {
public:
    using OnAccept = std::function<void(iomux::UniqueFd)>;
    struct Stats {
        std::uint64_t accepted = 0;
        std::uint64_t shed = 0;    // accepted and closed at once: no fd to serve them
        std::uint64_t pauses = 0;  // times the listener was left alone for a while
        std::uint64_t idle_wakeups = 0;  // readable, but another loop took the connection
    };

    // Watches listener (non-blocking) from now until destruction.
    Acceptor(iomux::Reactor& reactor, iomux::UniqueFd listener, OnAccept on_accept,
             iomux::Wakeup wakeup = iomux::Wakeup::all);
    ~Acceptor();
    Acceptor(const Acceptor&) = delete;
    Acceptor& operator=(const Acceptor&) = delete;

    int fd() const noexcept { return listener_.get(); }
    const Stats& stats() const noexcept { return stats_; }

private:
    void watch();
    void on_readable();
    // The reserve-fd trick: accept the next connection with the spare fd and close it.
    enum class Shed { one, none_waiting, failed };
    Shed shed_one();
    void pause();

    iomux::Reactor& reactor_;
    iomux::UniqueFd listener_;
    iomux::UniqueFd spare_;  // the fd that EMFILE handling gives up for a moment
    OnAccept on_accept_;
    iomux::Wakeup wakeup_;
    iomux::TimerHandle resume_;
    Stats stats_;
};

}  // namespace examples
