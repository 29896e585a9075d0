// FakeServer: a misbehaving (or well-behaved) echo server in a thread of the test, on
// 127.0.0.1 and a kernel-chosen port, so the stress client can be shown each failure it
// must report. Plain sockets and poll(2): the fake must not share code with what it tests.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

#include "poller/unique_fd.hpp"

namespace stress_test {

enum class Behavior {
    echo,              // every byte back
    drop_middle_byte,  // the first connection loses stream byte 5: a mismatch
    drop_last_byte,    // the first connection loses the last byte of its first message:
                       // the client waits for it in vain (a short reply)
    reset_some,        // every 4th connection (by accept order) is reset on its first data
    silent,            // accepts and reads, never answers
};

class FakeServer {
public:
    explicit FakeServer(Behavior behavior);
    ~FakeServer();  // stops the thread (and closes every connection)
    FakeServer(const FakeServer&) = delete;
    FakeServer& operator=(const FakeServer&) = delete;

    std::uint16_t port() const noexcept { return port_; }
    std::uint64_t accepted() const noexcept { return accepted_.load(); }

private:
    void serve();

    Behavior behavior_;
    iomux::UniqueFd listener_;
    iomux::UniqueFd stop_read_, stop_write_;
    std::uint16_t port_ = 0;
    std::atomic<std::uint64_t> accepted_{0};
    std::thread thread_;
};

// A port with nothing listening: bound (so nobody else takes it meanwhile) but not
// listening, so a SYN to it is answered with RST.
class DeadPort {
public:
    DeadPort();
    std::uint16_t port() const noexcept { return port_; }

private:
    iomux::UniqueFd sock_;
    std::uint16_t port_ = 0;
};

}  // namespace stress_test
