#include "peer_echo_common.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <string>
#include <system_error>

#include <fmt/format.h>

namespace iomux::compare {

std::optional<std::uint16_t> parse_echo_args(int argc, char** argv, std::string_view library, int& status) {
    const std::string usage = fmt::format(
        "usage: peer_echo_{0} [--port N] [--backend {0}]\n"
        "An echo server on 127.0.0.1 written with {0}: a peer row of iomux_compare.\n", library);
    std::uint16_t port = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            fmt::print("{}", usage);
            status = 0;
            return std::nullopt;
        }
        if ((arg == "--port" || arg == "--backend") && i + 1 < argc) {
            const std::string_view value = argv[++i];
            if (arg == "--backend" && value == library) continue;
            const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), port);
            if (arg == "--port" && ec == std::errc() && end == value.data() + value.size()) continue;
        }
        fmt::print(stderr, "peer_echo_{}: bad argument '{}'\n{}", library, arg, usage);
        status = 2;
        return std::nullopt;
    }
    // 11000 connections need more than the usual soft limit of 1024 fds.
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
    return port;
}

iomux::UniqueFd listen_loopback(std::uint16_t port) {
    const auto fail = [](const char* what) { return std::system_error(errno, std::generic_category(), what); };
    iomux::UniqueFd sock(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!sock) throw fail("socket");
    const int on = 1;
    if (::setsockopt(sock.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) throw fail("SO_REUSEADDR");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) throw fail("bind 127.0.0.1");
    if (::listen(sock.get(), 4096) != 0) throw fail("listen");
    return sock;
}

void announce(int listener) {
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
        throw std::system_error(errno, std::generic_category(), "getsockname");
    fmt::print("listening on 127.0.0.1:{}\n", ntohs(addr.sin_port));
    std::fflush(stdout);
}

}  // namespace iomux::compare
