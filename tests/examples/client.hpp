// Blocking TCP clients for the example tests. Every call is bounded in time: sockets get
// send and receive timeouts, and a timeout throws.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "poller/unique_fd.hpp"

namespace iomux::test {

struct ClientOptions {
    int rcvbuf = 0;  // SO_RCVBUF / SO_SNDBUF before connecting; 0 keeps the default
    int sndbuf = 0;
    std::chrono::milliseconds timeout = std::chrono::seconds(10);  // per send / recv call
};

// A blocking, close-on-exec socket connected to 127.0.0.1:port.
UniqueFd connect_to(std::uint16_t port, const ClientOptions& options = {});

// Sends everything (MSG_NOSIGNAL); throws on error or timeout.
void send_all(int fd, std::string_view data);
// Receives exactly n bytes; throws on end of stream, error or timeout.
std::string recv_exact(int fd, std::size_t n);
// Sends data from a second thread while this one reads the echo back: a client that wrote
// everything before reading would deadlock against a server with bounded buffers.
std::string echo_through(int fd, const std::string& data);
// Receives until the peer closes; throws past `limit` bytes, on error or on timeout.
std::string recv_all(int fd, std::size_t limit = 1 << 20);

enum class Outcome { data, eof, reset, timeout };
// One recv of at most n bytes, reporting how it went instead of throwing.
Outcome try_recv(int fd, std::string& out, std::size_t n);

// Closes with SO_LINGER 0: the peer gets a reset (RST), not an orderly end.
void close_with_reset(UniqueFd sock);

// n bytes of a reproducible pseudo-random pattern.
std::string pattern(std::size_t n, std::uint32_t seed);

}  // namespace iomux::test
