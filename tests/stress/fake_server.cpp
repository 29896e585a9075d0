#include "fake_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <string>
#include <system_error>
#include <vector>

namespace stress_test {
namespace {

[[noreturn]] void fail(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

// Bounded: a fake server never outlives a test run, even if the test forgets to stop it.
constexpr auto kMaxLifetime = std::chrono::seconds(60);

std::uint16_t bound_port(int fd) {
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) fail("getsockname");
    return ntohs(addr.sin_port);
}

iomux::UniqueFd bound_socket() {
    iomux::UniqueFd sock(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!sock) fail("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) fail("bind");
    return sock;
}

struct Conn {
    iomux::UniqueFd fd;
    std::uint64_t index;          // accept order
    std::uint64_t received = 0;   // stream bytes read
    std::string out;              // to echo
};

}  // namespace

FakeServer::FakeServer(Behavior behavior) : behavior_(behavior), listener_(bound_socket()) {
    if (::listen(listener_.get(), 4096) != 0) fail("listen");
    port_ = bound_port(listener_.get());
    int p[2];
    if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) fail("pipe2");
    stop_read_.reset(p[0]);
    stop_write_.reset(p[1]);
    thread_ = std::thread([this] { serve(); });
}

FakeServer::~FakeServer() {
    const char byte = 0;
    [[maybe_unused]] auto n = ::write(stop_write_.get(), &byte, 1);
    thread_.join();
}

void FakeServer::serve() {
    std::vector<Conn> conns;
    std::vector<pollfd> pfds;
    std::array<char, 65536> buf;
    const auto until = std::chrono::steady_clock::now() + kMaxLifetime;
    while (std::chrono::steady_clock::now() < until) {
        pfds.clear();
        pfds.push_back({stop_read_.get(), POLLIN, 0});
        pfds.push_back({listener_.get(), POLLIN, 0});
        for (const Conn& c : conns)
            pfds.push_back({c.fd.get(), static_cast<short>(POLLIN | (c.out.empty() ? 0 : POLLOUT)), 0});
        if (::poll(pfds.data(), pfds.size(), 100) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (pfds[0].revents) return;
        if (pfds[1].revents & POLLIN) {
            for (;;) {
                const int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) break;
                conns.push_back(Conn{iomux::UniqueFd(fd), accepted_++, 0, {}});
            }
        }
        // pfds[i + 2] belongs to conns[i] as they were before this round's accepts.
        std::vector<bool> gone(conns.size(), false);
        for (std::size_t i = 0; i + 2 < pfds.size(); ++i) {
            Conn& c = conns[i];
            const short re = pfds[i + 2].revents;
            if (re & (POLLIN | POLLHUP | POLLERR)) {
                const ssize_t n = ::recv(c.fd.get(), buf.data(), buf.size(), 0);
                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                    gone[i] = true;
                    continue;
                }
                if (n > 0) {
                    std::string data(buf.data(), static_cast<std::size_t>(n));
                    const std::uint64_t start = c.received;
                    c.received += static_cast<std::uint64_t>(n);
                    switch (behavior_) {
                    case Behavior::echo:
                        break;
                    case Behavior::drop_middle_byte:
                        if (c.index == 0 && start <= 5 && c.received > 5) data.erase(5 - start, 1);
                        break;
                    case Behavior::drop_last_byte:
                        if (c.index == 0 && start == 0) data.pop_back();
                        break;
                    case Behavior::reset_some:
                        if (c.index % 4 == 0) {
                            const linger hard{1, 0};  // close() then sends RST, not FIN
                            ::setsockopt(c.fd.get(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
                            gone[i] = true;
                            continue;
                        }
                        break;
                    case Behavior::silent:
                        data.clear();
                        break;
                    }
                    c.out += data;
                }
            }
            if (!c.out.empty()) {
                const ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
                if (n > 0) c.out.erase(0, static_cast<std::size_t>(n));
                else if (n < 0 && errno != EAGAIN && errno != EINTR) gone[i] = true;
            }
        }
        for (std::size_t i = gone.size(); i-- > 0;)
            if (gone[i]) conns.erase(conns.begin() + static_cast<std::ptrdiff_t>(i));
    }
}

DeadPort::DeadPort() : sock_(bound_socket()), port_(bound_port(sock_.get())) {}

}  // namespace stress_test
