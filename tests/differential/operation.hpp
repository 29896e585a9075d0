// Operation: one step of a differential run, decoded from two bytes, so that libFuzzer's
// mutations (tests/fuzz/) and a seeded random generator (tests/test_differential.cpp) drive
// the same engine (differential.hpp) with the same meaning for every byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace iomux::differential {

// Socket pairs a run works on: few, so that random operations meet the same fds often.
inline constexpr int kPairs = 4;
// The most bytes one write or read moves.
inline constexpr std::size_t kMaxTransfer = 65536;

enum class Kind {
    add,               // Poller::add(fd, mask, wakeup)
    modify,            // Poller::modify(fd, mask)
    remove,            // Poller::remove(fd)
    write,             // send `size` bytes on fd
    read,              // recv up to `size` bytes from fd
    shutdown,          // shutdown(fd, how)
    close_pair,        // remove both ends, close them, open a new pair (numbers may be reused)
    close_registered,  // close fd without removing it first, then remove it (documented case)
    wait,              // wait(0) on every backend; they must agree
};

struct Operation {
    Kind kind = Kind::wait;
    int pair = 0;               // 0 .. kPairs - 1
    int side = 0;               // which end of the pair: 0 or 1
    std::uint32_t mask = 0;     // add, modify: EVENT_READ, EVENT_WRITE or both
    bool exclusive = false;     // add: Wakeup::exclusive, which epoll then modifies by DEL + ADD
    std::size_t size = 0;       // write, read
    int how = 0;                // shutdown: SHUT_RD, SHUT_WR or SHUT_RDWR
};

// "add" for Kind::add, and so on.
std::string to_string(Kind kind);

// Decodes operations from bytes, two a piece; a trailing odd byte is ignored. Every byte
// string is valid: the fuzzer never wastes an input on a parse error.
class OperationReader {
public:
    explicit OperationReader(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}
    std::optional<Operation> next();

private:
    std::span<const std::uint8_t> bytes_;
};

}  // namespace iomux::differential
