#include "tests/differential/operation.hpp"

#include <sys/socket.h>

#include <array>

#include "poller/poller.hpp"

namespace iomux::differential {
namespace {

// The first byte's low four bits pick the kind. Waits get the largest share: every check
// happens at a wait, and the edge-triggered contract is about what happens between two.
constexpr std::array<Kind, 16> kKinds = {
    Kind::add,   Kind::add,      Kind::modify,     Kind::remove,           Kind::write, Kind::write,
    Kind::read,  Kind::read,     Kind::shutdown,   Kind::close_pair,       Kind::close_registered,
    Kind::wait,  Kind::wait,     Kind::wait,       Kind::wait,             Kind::wait,
};

// 1 byte, a little, a page, and enough to fill a socket's buffer so that it stops being
// writable (an AF_UNIX stream socket is writable while less than a quarter of its
// send buffer is in flight).
constexpr std::array<std::size_t, 4> kSizes = {1, 100, 4096, kMaxTransfer};

constexpr std::array<int, 4> kHows = {SHUT_RD, SHUT_WR, SHUT_RDWR, SHUT_WR};

}  // namespace

std::string to_string(Kind kind) {
    switch (kind) {
    case Kind::add: return "add";
    case Kind::modify: return "modify";
    case Kind::remove: return "remove";
    case Kind::write: return "write";
    case Kind::read: return "read";
    case Kind::shutdown: return "shutdown";
    case Kind::close_pair: return "close pair";
    case Kind::close_registered: return "close registered";
    case Kind::wait: return "wait";
    }
    return "?";
}

std::optional<Operation> OperationReader::next() {
    if (bytes_.size() < 2) return std::nullopt;
    const unsigned op = bytes_[0], arg = bytes_[1];
    bytes_ = bytes_.subspan(2);
    // The second byte: bits 0-1 the pair, bit 2 the side, bits 3-4 the mask (0 counts as
    // both), bits 5-6 the size or the shutdown mode, bit 7 an exclusive add.
    Operation o;
    o.kind = kKinds[op & 15u];
    o.pair = static_cast<int>(arg & 3u) % kPairs;
    o.side = static_cast<int>(arg >> 2 & 1u);
    const unsigned m = arg >> 3 & 3u;
    o.mask = m == 0 ? EVENT_READ | EVENT_WRITE : m;
    o.size = kSizes[arg >> 5 & 3u];
    o.how = kHows[arg >> 5 & 3u];
    o.exclusive = (arg >> 7 & 1u) != 0;
    return o;
}

}  // namespace iomux::differential
