// bare_uring_echo, the bare io_uring limit row, checked on its own. The benchmark's load
// generator verifies its 64-byte echoes, each one buffer of the server's ring; this sends
// what the benchmark never does, at a few hundred connections: messages that span many of
// the 2 KiB ring buffers, replies too large for the socket buffers (short or stalled sends,
// reading paused), and clients that half-close and must still get every byte back, in
// order, before the server closes.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "common/child_process.hpp"
#include "poller/unique_fd.hpp"
#include "run_program.hpp"

using namespace std::chrono_literals;

namespace {

struct Client {
    iomux::UniqueFd sock;
    std::string out, in;
    std::size_t sent = 0;
    bool half_close = false, shut = false, eof = false;
};

iomux::UniqueFd connect_to(std::uint16_t port) {
    iomux::UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    REQUIRE(s);
    // A small receive window: replies the client does not read yet stall the server's sends
    // after a few KiB, so the server must hold them in its ring buffers.
    const int rcvbuf = 4096;
    REQUIRE(::setsockopt(s.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) == 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int r = ::connect(s.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    REQUIRE((r == 0 || errno == EINPROGRESS));
    return s;
}

// Payload that differs per connection and per position, so a byte delivered to the wrong
// connection or out of order shows.
std::string payload(std::size_t conn, std::size_t size) {
    std::string s(size, '\0');
    for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>('A' + (conn * 7 + i * 13 + i / 251) % 61);
    return s;
}

}  // namespace

TEST_CASE("bare_uring_echo echoes every byte, in order, at a few hundred connections") {
    if (const std::string why = compare_test::bare_uring_unavailable(); !why.empty()) {
        MESSAGE("bare_uring_echo skipped: " << why);
        return;
    }
    ::setenv("BARE_URING_STATS", "1", 1);  // its counts on stderr at exit
    iomux::tools::ChildProcess server({compare_test::env("BARE_URING_ECHO"), "--port", "0"}, {std::nullopt, true, true});
    ::unsetenv("BARE_URING_STATS");
    const auto port = server.read_listening_port(10s);
    REQUIRE(port);

    // 300 connections: every tenth sends 64 bytes (the benchmark's message), the others about
    // 96 KiB (48 buffers), two 1 MiB, and every third half-closes after sending. For the
    // first second no client reads: each stalled connection then holds up to 16 buffers
    // before the server pauses its reading, more than the ring's 4096 in all, so recvs find
    // the ring empty and must wait for buffers without losing or reordering a byte.
    constexpr std::size_t kConns = 300;
    std::vector<Client> clients(kConns);
    for (std::size_t i = 0; i < kConns; ++i) {
        Client& c = clients[i];
        c.sock = connect_to(*port);
        const std::size_t size = i == 17 || i == 200 ? std::size_t{1} << 20 : i % 10 == 0 ? 64 : 96 * 1024 + i;
        c.out = payload(i, size);
        c.half_close = i % 3 == 0;
    }

    // One poll loop over every client: write what is left, read what came back; a
    // half-closing client shuts its write side once everything is sent.
    const auto start = std::chrono::steady_clock::now(), deadline = start + 30s;
    std::vector<char> buf(256 * 1024);
    for (;;) {
        std::vector<pollfd> fds;
        std::vector<Client*> who;
        for (Client& c : clients) {
            const bool want_write = c.sent < c.out.size();
            const bool reading = std::chrono::steady_clock::now() > start + 1s;
            const bool want_read = reading && (c.half_close ? !c.eof : c.in.size() < c.out.size());
            if (!want_write && !want_read) continue;
            fds.push_back({c.sock.get(), static_cast<short>((want_write ? POLLOUT : 0) | (want_read ? POLLIN : 0)), 0});
            who.push_back(&c);
        }
        if (fds.empty() && std::chrono::steady_clock::now() > start + 1s) break;
        REQUIRE(std::chrono::steady_clock::now() < deadline);
        REQUIRE(::poll(fds.data(), fds.size(), 100) >= 0);
        for (std::size_t k = 0; k < fds.size(); ++k) {
            Client& c = *who[k];
            if (fds[k].revents & POLLOUT) {
                const ssize_t n = ::send(c.sock.get(), c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
                if (n > 0) c.sent += static_cast<std::size_t>(n);
                else REQUIRE((errno == EAGAIN || errno == EWOULDBLOCK));
            }
            if (c.half_close && !c.shut && c.sent == c.out.size()) {
                REQUIRE(::shutdown(c.sock.get(), SHUT_WR) == 0);
                c.shut = true;
            }
            if (fds[k].revents & (POLLIN | POLLHUP | POLLERR)) {
                const ssize_t n = ::recv(c.sock.get(), buf.data(), buf.size(), 0);
                if (n > 0) c.in.append(buf.data(), static_cast<std::size_t>(n));
                else if (n == 0) c.eof = true;
                else REQUIRE((errno == EAGAIN || errno == EWOULDBLOCK));
                REQUIRE(c.in.size() <= c.out.size());
                // The server closes a half-closed connection only after echoing all of it.
                if (c.eof) REQUIRE(c.in.size() == c.out.size());
            }
        }
    }
    std::size_t wrong = 0, half_closed = 0;
    for (const Client& c : clients) {
        wrong += c.in != c.out;
        half_closed += c.eof;
    }
    CHECK(wrong == 0);
    CHECK(half_closed == 100);

    server.signal(SIGTERM);
    std::string stats;
    server.read_stderr(&stats, "empty\n", 10s);
    CHECK(server.wait(10s) == 0);
    INFO("server: " << stats);
    unsigned long long enters = 0, messages = 0, starved = 0;
    REQUIRE(std::sscanf(stats.c_str(), "bare_uring_echo: %llu enters, %llu messages received, %llu", &enters, &messages,
                        &starved) == 3);
    CHECK(starved > 0);
}
