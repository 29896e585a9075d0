// The dispatch workload (libevent's test/bench.c, with muduo's loop/total split) on one
// loop: an iomux backend through iomux::Reactor, the bare epoll loop, or a peer library.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "hot_potato.hpp"

namespace iomux::compare {

struct DispatchConfig {
    std::size_t active = 100;  // chains: bytes in flight at once
    std::size_t writes = 1000; // passes per round, shared by all chains
    std::size_t rounds = 25;   // timed rounds per run (bench.c prints 25)
};

// One run's figures: the median over its rounds, in microseconds per round.
struct DispatchRun {
    double loop_us = 0;   // from the first byte sent until every byte was read
    double total_us = 0;  // the same, plus re-adding every watcher first (bench.c)
    double readd_us = 0;  // the re-adding alone: removing and adding every watcher, and the
                          // loop's pass that applies it (a median of its own)
};

// backend: an iomux backend name, kBareEpoll, or a peer library (peers.hpp). Builds the loop, registers every pair
// (not timed), runs one warm-up round and `rounds` timed ones. Throws std::runtime_error if
// a round stalls or a send/recv fails, ValueError for an unknown backend.
DispatchRun run_dispatch(std::string_view backend, std::span<const SocketPair> pairs, const DispatchConfig& config);

}  // namespace iomux::compare
