// floor_client: the material's scenario with nothing but the syscalls, to measure what
// any single-threaded client costs on this machine: the benchmark's yardstick for
// stress_client's own overhead (README.md). Per connection exactly what a blocking client
// (the material's Python one) does against a local server: socket, connect, and per
// message a send and a recv, with a poll(2) on the one socket only when its reply is not
// there yet. Not a tool: no reactor, no retries, no timeouts beyond a 5 s wait, and
// replies are checked by length only.
//
// --uring: the same work with no syscall per operation: socket and connect (linked, on
// io_uring direct descriptors), then each message's sends and receives, submitted through
// io_uring thousands per io_uring_enter. What batching saves when a syscall costs ~1.1 us.
//
//   floor_client PORT [CONNS] [--uring]    (server on 127.0.0.1; prints one line of timings)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <type_traits>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "common/cli.hpp"
#include "common/fd_limit.hpp"
#include "common/process_stats.hpp"
#include "poller/unique_fd.hpp"

#ifdef FLOOR_URING
#include <liburing.h>
#endif

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

constexpr std::string_view kMessages[] = {"This is the message. ", "It will be sent ", "in parts."};

#ifdef FLOOR_URING
// Connections are direct descriptors 0..n-1 of the ring: no fd table, no fget per op.
class Batch {
public:
    explicit Batch(int n) : n_(n), got_(static_cast<std::size_t>(n)), buf_(static_cast<std::size_t>(n) * kSlot) {
        io_uring_params p{};
        p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER;
        p.cq_entries = 65536;
        if (io_uring_queue_init_params(4096, &ring_, &p) < 0 || io_uring_register_files_sparse(&ring_, static_cast<unsigned>(n)) < 0)
            throw std::runtime_error("io_uring set-up failed");
    }
    ~Batch() { io_uring_queue_exit(&ring_); }

    // A window at a time, as the stress client: all 11000 SYNs at once overflow the
    // server's listen backlog, and a dropped SYN costs a 1 s retransmit.
    void connect(const sockaddr_in& server) {
        constexpr int kWindow = 1024;
        for (int first = 0; first < n_; first += kWindow) {
            const int end = std::min(n_, first + kWindow);
            for (int i = first; i < end; ++i) {
                io_uring_prep_socket_direct(sqe(), AF_INET, SOCK_STREAM, 0, static_cast<unsigned>(i), 0);
                last_->flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
                io_uring_prep_connect(sqe(), i, reinterpret_cast<const sockaddr*>(&server), sizeof server);
                last_->flags |= IOSQE_FIXED_FILE;
                last_->user_data = static_cast<unsigned>(i);
            }
            reap(end - first, [](int i, int res) {
                if (res < 0) throw std::runtime_error(fmt::format("connection {}: {}", i, std::strerror(-res)));
            });
        }
    }

    void message(std::string_view m) {
        for (int i = 0; i < n_; ++i) {
            io_uring_prep_send(sqe(), i, m.data(), m.size(), MSG_NOSIGNAL);
            last_->flags |= IOSQE_FIXED_FILE | IOSQE_CQE_SKIP_SUCCESS;
        }
        // Every send out before the first receive, as the plain client's two passes: a
        // receive submitted before its reply came costs a poll arming and a task-work run.
        io_uring_submit(&ring_);
        std::fill(got_.begin(), got_.end(), 0);
        for (int i = 0; i < n_; ++i) recv(i, m.size());
        // Sends report only failures (skipped on success); every recv reports.
        reap(n_, [&](int i, int res) {
            if (res <= 0) throw std::runtime_error(fmt::format("connection {}: no reply ({})", i, res));
            got_[static_cast<std::size_t>(i)] += static_cast<std::size_t>(res);
            if (got_[static_cast<std::size_t>(i)] < m.size()) {
                recv(i, m.size() - got_[static_cast<std::size_t>(i)]);
                return false;
            }
            return true;
        });
    }

private:
    static constexpr std::size_t kSlot = 64;
    io_uring_sqe* sqe() {
        while (!(last_ = io_uring_get_sqe(&ring_))) io_uring_submit(&ring_);
        last_->user_data = ~0ull;
        return last_;
    }
    void recv(int i, std::size_t len) {
        io_uring_prep_recv(sqe(), i, &buf_[static_cast<std::size_t>(i) * kSlot], len, 0);
        last_->flags |= IOSQE_FIXED_FILE;
        last_->user_data = static_cast<unsigned>(i);
    }
    // Waits for `count` completions that `done` accepts (a void `done` accepts all).
    template <class F>
    void reap(int count, F done) {
        while (count > 0) {
            io_uring_submit_and_wait(&ring_, 1);
            unsigned head, seen = 0;
            io_uring_cqe* cqe;
            io_uring_for_each_cqe(&ring_, head, cqe) {
                ++seen;
                if (cqe->user_data == ~0ull) throw std::runtime_error(fmt::format("a send or socket failed: {}", cqe->res));
                const int i = static_cast<int>(cqe->user_data);
                if constexpr (std::is_void_v<decltype(done(i, cqe->res))>) {
                    done(i, cqe->res);
                    --count;
                } else if (done(i, cqe->res)) {
                    --count;
                }
            }
            io_uring_cq_advance(&ring_, seen);
        }
    }

    io_uring ring_{};
    int n_;
    io_uring_sqe* last_ = nullptr;
    std::vector<std::size_t> got_;
    std::vector<char> buf_;
};

int run_batched(const sockaddr_in& server, int n) {
    const Clock::time_point start = Clock::now();
    const iomux::tools::CpuTimes cpu0 = iomux::tools::self_cpu();
    Batch batch(n);
    batch.connect(server);
    const double connect_wall = since(start), connect_cpu = (iomux::tools::self_cpu() - cpu0).total();
    std::string phases;
    for (std::string_view message : kMessages) {
        const Clock::time_point t = Clock::now();
        const iomux::tools::CpuTimes c = iomux::tools::self_cpu();
        batch.message(message);
        phases += fmt::format(" {:.3f}/{:.3f}", since(t), (iomux::tools::self_cpu() - c).total());
    }
    fmt::print("floor_client --uring: {} connections: connect {:.3f} s wall {:.3f} cpu | phases (wall/cpu){} | total {:.3f} s "
               "wall, {:.3f} s cpu\n", n, connect_wall, connect_cpu, phases, since(start), (iomux::tools::self_cpu() - cpu0).total());
    return 0;
}
#endif

}  // namespace

int main(int argc, char** argv) {
    CLI::App app("The material's scenario with nothing but the syscalls, against 127.0.0.1:PORT.", "floor_client");
    iomux::tools::style_cli(app, "usage: floor_client PORT [CONNS]");
    std::uint16_t port = 0;
    int n = 11000;
    app.add_option("PORT", port, "the echo server's port")->required()->check(CLI::Range(1, 65535));
    app.add_option("CONNS", n, "connections (default 11000)")->check(CLI::Range(1, 1'000'000));
    bool uring = false;
    app.add_flag("--uring", uring, "batch every operation through io_uring");
    if (const auto status = iomux::tools::parse_cli(app, argc, argv)) return *status;
    iomux::tools::raise_fd_limit();

    sockaddr_in server{};
    server.sin_family = AF_INET;
    server.sin_port = htons(port);
    server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
#ifdef FLOOR_URING
    if (uring) {
        try {
            return run_batched(server, n);
        } catch (const std::exception& e) {
            fmt::print(stderr, "floor_client: {}\n", e.what());
            return 1;
        }
    }
#else
    if (uring) {
        fmt::print(stderr, "floor_client: built without liburing\n");
        return 2;
    }
#endif

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
