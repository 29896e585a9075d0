// floor_client: the material's scenario with nothing but the syscalls, to measure what
// any single-threaded client costs on this machine: the benchmark's yardstick for
// stress_client's own overhead (README.md). Per connection exactly what a blocking client
// (the material's Python one) does against a local server: socket, connect, and per
// message a send and a recv, with a poll(2) on the one socket only when its reply is not
// there yet. Not a tool: no reactor, no retries, no timeouts beyond a 5 s wait, and
// replies are checked by length only.
//
//   floor_client PORT [CONNS]     (server on 127.0.0.1; prints one line of timings)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "common/cli.hpp"
#include "common/fd_limit.hpp"
#include "common/process_stats.hpp"
#include "poller/unique_fd.hpp"

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

int main(int argc, char** argv) {
    CLI::App app("The material's scenario with nothing but the syscalls, against 127.0.0.1:PORT.", "floor_client");
    iomux::tools::style_cli(app, "usage: floor_client PORT [CONNS]");
    std::uint16_t port = 0;
    int n = 11000;
    app.add_option("PORT", port, "the echo server's port")->required()->check(CLI::Range(1, 65535));
    app.add_option("CONNS", n, "connections (default 11000)")->check(CLI::Range(1, 1'000'000));
    if (const auto status = iomux::tools::parse_cli(app, argc, argv)) return *status;
    iomux::tools::raise_fd_limit();

    sockaddr_in server{};
    server.sin_family = AF_INET;
    server.sin_port = htons(port);
    server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    const Clock::time_point start = Clock::now();
    const iomux::tools::CpuTimes cpu0 = iomux::tools::self_cpu();
    std::vector<iomux::UniqueFd> socks(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        socks[i].reset(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        // On loopback the handshake completes inside connect(): no wait for writability.
        if (!socks[i] || (::connect(socks[i].get(), reinterpret_cast<const sockaddr*>(&server), sizeof server) != 0 &&
                          errno != EINPROGRESS)) {
            fmt::print(stderr, "floor_client: connection {} failed\n", i);
            return 1;
        }
    }
    const double connect_wall = since(start);
    const double connect_cpu = (iomux::tools::self_cpu() - cpu0).total();

    constexpr std::string_view kMessages[] = {"This is the message. ", "It will be sent ", "in parts."};
    char buf[1024];
    std::string phases;
    for (std::string_view message : kMessages) {
        const Clock::time_point t = Clock::now();
        const iomux::tools::CpuTimes c = iomux::tools::self_cpu();
        for (int i = 0; i < n; ++i) ::send(socks[i].get(), message.data(), message.size(), MSG_NOSIGNAL);
        for (int i = 0; i < n; ++i) {
            for (std::size_t got = 0; got < message.size();) {
                const ssize_t r = ::recv(socks[i].get(), buf, sizeof buf, 0);
                if (r > 0) {
                    got += static_cast<std::size_t>(r);
                    continue;
                }
                pollfd p{socks[i].get(), POLLIN, 0};
                if (r == 0 || (errno != EAGAIN && errno != EINTR) || ::poll(&p, 1, 5000) == 0) {
                    fmt::print(stderr, "floor_client: no reply on connection {}\n", i);
                    return 1;
                }
            }
        }
        phases += fmt::format(" {:.3f}/{:.3f}", since(t), (iomux::tools::self_cpu() - c).total());
    }
    fmt::print("floor_client: {} connections: connect {:.3f} s wall {:.3f} cpu | phases (wall/cpu){} | total {:.3f} s wall, {:.3f} s cpu\n",
               n, connect_wall, connect_cpu, phases, since(start), (iomux::tools::self_cpu() - cpu0).total());
    return 0;
}
