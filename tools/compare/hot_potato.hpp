// The work of libevent's test/bench.c, shared by every loop the dispatch workload drives so
// that only the loop differs: A bytes are dropped on evenly spaced pairs, and each read
// callback passes its byte on to the next pair until W writes were made (chains of "hot
// potatoes", which make the loop's own cost the bulk of what is timed), over N connected
// AF_UNIX stream pairs, non-blocking, as bench.c uses (pipes there are a compile-time
// alternative; socketpairs are its default).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "poller/unique_fd.hpp"

namespace iomux::compare {

struct SocketPair {
    iomux::UniqueFd read_end, write_end;
};

// Throws std::system_error (EMFILE when the fd limit is too low for n).
std::vector<SocketPair> make_socket_pairs(std::size_t n);

class HotPotato {
public:
    HotPotato(std::span<const SocketPair> pairs, std::size_t active, std::size_t writes)
        : pairs_(pairs), active_(active), writes_(writes) {}

    int read_fd(std::size_t index) const noexcept { return pairs_[index].read_end.get(); }
    std::size_t size() const noexcept { return pairs_.size(); }

    // Sends the first A bytes (bench.c: pipes[i * space + 1], space = N / A pairs).
    void start_round() noexcept;
    bool done() const noexcept { return received_ == fired_; }
    std::size_t failures() const noexcept { return failures_; }

    // bench.c's read_cb: reads one byte and, while writes remain, sends one to the next
    // pair. Returns true when this pair still holds a byte (two chains met on it): a
    // level-triggered loop reports it again by itself, an edge-triggered one must be told
    // (Reactor::keep_ready), since no new data will arrive to make a new edge. Finding
    // nothing is no failure: asio, edge-triggered, reports an edge whose byte an earlier
    // read took, and its users then wait again, as its row does.
    // Out of line, so that the instructions workload can tell its cost from the loop's.
    bool on_readable(std::size_t index) noexcept;

private:
    std::span<const SocketPair> pairs_;
    std::size_t active_, writes_;
    std::size_t writes_left_ = 0, fired_ = 0, received_ = 0, failures_ = 0;
    std::vector<std::uint32_t> queued_ = std::vector<std::uint32_t>(pairs_.size());  // bytes sent, not yet read
};

}  // namespace iomux::compare
