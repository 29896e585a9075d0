// echo_server: sends every byte back to the client that sent it.
//
// The material's selectors echo server does `data = conn.recv(1024); conn.send(data)` and
// hopes the send does not block. This one is the same few lines as an iomux::Protocol, and
// the library's transport (reactor/transport.hpp) and server (reactor/server.hpp) handle
// what the material leaves out:
//  - send() may take part of the data: the transport buffers the rest and sends it when the
//    socket is writable again.
//  - a client that sends but does not read: past a high-water mark the transport tells the
//    protocol pause_writing(), and the protocol stops reading from that client (TCP then
//    slows the client down) until its backlog drained: memory stays bounded.
//  - end of input (the client shut down its writing side): everything received is echoed,
//    then the connection is closed. A reset peer (ECONNRESET, EPIPE) is closed at once, and
//    MSG_NOSIGNAL keeps SIGPIPE from killing the server.
//  - fairness (a budget per read, also on edge-triggered epoll), every pending connection
//    accepted, TCP_NODELAY, and running out of fds while accepting: the server's.
//
// It scales out the two ways a server can: --threads N runs N loops in this process, one
// per thread (common/loop_threads.hpp), and --workers N runs N pre-forked processes under a
// supervising parent (common/prefork.hpp), for more connections than one process may hold
// fds. Each loop has its own SO_REUSEPORT listener on the one port, or with
// --shared-listener a dup of one listening socket, which wakes every loop for each
// connection unless --exclusive asks for one (iomux::listen_tcp_for_loops).
//
//   echo_server --port 8000 --backend epoll-et
//   echo_server --port 8000 --workers 6 --max-conns 100000
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "common/fd_budget.hpp"
#include "common/announce.hpp"
#include "common/loop_threads.hpp"
#include "common/options.hpp"
#include "common/prefork.hpp"
#include "poller/unique_fd.hpp"
#include "reactor/reactor.hpp"
#include "reactor/server.hpp"
#include "reactor/transport.hpp"

namespace {

constexpr std::size_t kHighWater = 256 * 1024;  // stop reading a client with this much unsent
constexpr std::size_t kLowWater = 64 * 1024;    // resume once its backlog is down to this

class Echo final : public iomux::Protocol {
public:
    void connection_made(iomux::Transport& transport) override {
        transport_ = &transport;
        transport.set_write_buffer_limits(kHighWater, kLowWater);
    }
    void data_received(std::string_view data) override { transport_->write(data); }
    // A client that does not read what it is sent is not read from either.
    void pause_writing() override { transport_->pause_reading(); }
    void resume_writing() override { transport_->resume_reading(); }
    // eof_received: the default closes once everything is echoed.

private:
    iomux::Transport* transport_ = nullptr;
};

// One loop's server: runs until the loop is stopped.
void serve(iomux::Reactor& loop, iomux::UniqueFd listener, iomux::Wakeup wakeup, const std::string& label, bool stats) {
    iomux::ServerOptions options;
    options.wakeup = wakeup;
    iomux::Server server(loop, [] { return std::make_unique<Echo>(); }, std::move(listener), options);
    loop.run();
    if (stats) {
        const auto& s = server.stats();
        fmt::print(stderr, "echo_server: {}{} connections accepted, {} shed for want of fds, {} pauses, {} idle wake-ups; "
                   "{} I/O on {}\n",
                   label, s.accepted, s.shed, s.pauses, s.idle_wakeups, loop.io_path(), loop.backend());
    }
}

}  // namespace

int main(int argc, char** argv) {
    examples::CommandLine cli("echo_server", "An echo server on 127.0.0.1: sends every byte back.");
    examples::ServerOptions opts;
    opts.add_to(cli);
    examples::ScaleOptions scale;
    scale.add_to(cli);
    bool stats = false;
    cli.flag("--stats", "print connection counts on stderr at exit, per loop", stats);
    if (auto status = cli.parse(argc, argv)) return *status;

    try {
        const examples::FdBudget budget = examples::raise_fd_budget(scale.threads);
        if (scale.max_conns > 0 && !examples::check_fd_plan("echo_server", budget, scale.max_conns, scale.workers))
            return 2;
        std::vector<iomux::UniqueFd> listeners =
            iomux::listen_tcp_for_loops("127.0.0.1", opts.port, scale.loops(), scale.shared_listener);
        const std::uint16_t port = iomux::local_address(listeners.front().get()).port;

        // Names each loop in the --stats lines when there are several.
        std::string worker_label;
        const examples::ServeLoop serve_loop = [&](iomux::Reactor& loop, iomux::UniqueFd listener, std::size_t i) {
            const std::string label = scale.loops() == 1 ? "" : fmt::format("{}loop {}: ", worker_label, i);
            serve(loop, std::move(listener), scale.listener_wakeup(), label, stats);
        };
        if (scale.workers == 1) {
            examples::run_loops(opts.backend, std::move(listeners), serve_loop, [port] { examples::announce_port(port); });
            return 0;
        }
        return examples::run_prefork(
            "echo_server", scale.workers,
            [&](std::size_t w, const std::function<void()>& ready) {
                // This worker's listeners; the others' close here, leaving each socket to one process.
                std::vector<iomux::UniqueFd> mine(std::make_move_iterator(listeners.begin() + w * scale.threads),
                                                  std::make_move_iterator(listeners.begin() + (w + 1) * scale.threads));
                listeners.clear();
                worker_label = fmt::format("worker {} ", w);
                examples::run_loops(opts.backend, std::move(mine), serve_loop, ready);
                return 0;
            },
            [&] {
                listeners.clear();
                examples::announce_port(port);
            });
    } catch (const std::exception& e) {
        fmt::print(stderr, "echo_server: {}\n", e.what());
        return 1;
    }
}
