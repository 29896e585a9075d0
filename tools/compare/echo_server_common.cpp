#include "echo_server_common.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

#include <fmt/format.h>

#include "common/cli.hpp"
#include "common/fd_limit.hpp"

namespace iomux::compare {

std::optional<std::uint16_t> parse_echo_args(int argc, char** argv, const std::string& program,
                                             const std::string& summary, const std::string& backend, int& status) {
    CLI::App app(summary, program);
    iomux::tools::style_cli(app, fmt::format("usage: {} [--port N] [--backend {}]", program, backend));
    std::uint16_t port = 0;
    app.add_option("--port", port, "TCP port on 127.0.0.1 (default 0: any free port)")->type_name("N");
    app.add_option("--backend", "the only one there is here")->type_name("NAME")->check(CLI::IsMember({backend}));
    if (const auto stop = iomux::tools::parse_cli(app, argc, argv)) {
        status = *stop;
        return std::nullopt;
    }
    iomux::tools::raise_fd_limit();
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
