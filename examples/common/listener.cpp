#include "common/listener.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

#include <fmt/format.h>

namespace examples {
namespace {

[[noreturn]] void fail(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

}  // namespace

iomux::UniqueFd listen_tcp(std::uint16_t port, bool reuse_port) {
    iomux::UniqueFd sock(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!sock) fail("socket");
    const int on = 1;
    if (::setsockopt(sock.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) fail("SO_REUSEADDR");
    if (reuse_port && ::setsockopt(sock.get(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) fail("SO_REUSEPORT");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
        fail("bind 127.0.0.1");
    // The kernel caps this at net.core.somaxconn (4096 by default since Linux 5.4).
    if (::listen(sock.get(), 4096) != 0) fail("listen");
    return sock;
}

std::vector<iomux::UniqueFd> listen_tcp_for_loops(std::uint16_t port, std::size_t n, bool shared) {
    std::vector<iomux::UniqueFd> fds;
    fds.push_back(listen_tcp(port, n > 1 && !shared));
    port = local_port(fds.front().get());
    while (fds.size() < n) {
        if (!shared) {
            fds.push_back(listen_tcp(port, true));
            continue;
        }
        iomux::UniqueFd dup(::fcntl(fds.front().get(), F_DUPFD_CLOEXEC, 0));
        if (!dup) fail("dup listener");
        fds.push_back(std::move(dup));
    }
    return fds;
}

std::uint16_t local_port(int fd) {
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) fail("getsockname");
    return ntohs(addr.sin_port);
}

void announce(int listener) { announce_port(local_port(listener)); }

void announce_port(std::uint16_t port) {
    fmt::print("listening on 127.0.0.1:{}\n", port);
    std::fflush(stdout);
}

}  // namespace examples
