// coro_echo_server: echo_server (echo_server.cpp) with a coroutine per connection.
//
// The connection's code reads top to bottom like the material's blocking server, and the
// library keeps echo_server's guarantees underneath (reactor/stream.hpp): a partial send is
// buffered and finished by the transport; write() waits while the client's backlog is over
// the high-water mark, and nothing is read meanwhile (backpressure: memory stays bounded);
// read() returns 0 at the client's EOF, after which the loop ends and the stream closes once
// everything is echoed (half-close); a reset ends the coroutine with std::system_error;
// running out of fds while accepting is the Server's. The command line is echo_server's.
//
//   coro_echo_server --port 8000 --backend epoll-et
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "common/announce.hpp"
#include "common/fd_budget.hpp"
#include "common/loop_threads.hpp"
#include "common/options.hpp"
#include "common/prefork.hpp"
#include "poller/unique_fd.hpp"
#include "reactor/reactor.hpp"
#include "reactor/server.hpp"
#include "reactor/stream.hpp"
#include "reactor/task.hpp"

namespace {

constexpr std::size_t kHighWater = 256 * 1024;  // as echo_server's
constexpr std::size_t kLowWater = 64 * 1024;

// One connection, start to end.
iomux::Task<> echo(iomux::Stream stream) {
    stream.transport()->set_write_buffer_limits(kHighWater, kLowWater);
    std::string data;  // holds nothing while the client is idle
    try {
        while (co_await stream.read(data)) {
            co_await stream.write(data);  // waits while the client is not reading
            data.clear();
        }
    } catch (const std::system_error&) {
        // Reset or gone (ECONNRESET, EPIPE): nobody to answer.
    }
}  // the Stream closes once what it holds is sent

iomux::Task<> accept_all(iomux::Acceptor& acceptor) {
    for (;;) iomux::spawn(acceptor.loop(), echo(co_await acceptor.accept()));
}

// One loop's server: runs until the loop is stopped.
void serve(iomux::Reactor& loop, iomux::UniqueFd listener, iomux::Wakeup wakeup, const std::string& label, bool stats) {
    iomux::ServerOptions options;
    options.wakeup = wakeup;
    iomux::Acceptor acceptor(loop, std::move(listener), options);
    iomux::TaskHandle accepting = iomux::spawn(loop, accept_all(acceptor));
    loop.run();
    accepting.cancel();
    if (stats) {
        const auto& s = acceptor.server().stats();
        fmt::print(stderr,
                   "coro_echo_server: {}{} connections accepted, {} shed for want of fds, {} pauses, {} idle wake-ups; "
                   "{} I/O on {}\n",
                   label, s.accepted, s.shed, s.pauses, s.idle_wakeups, loop.io_path(), loop.backend());
    }
}

}  // namespace

int main(int argc, char** argv) {
    examples::CommandLine cli("coro_echo_server",
                              "An echo server on 127.0.0.1, a coroutine per connection: sends every byte back.");
    examples::ServerOptions opts;
    opts.add_to(cli);
    examples::ScaleOptions scale;
    scale.add_to(cli);
    bool stats = false;
    cli.flag("--stats", "print connection counts on stderr at exit, per loop", stats);
    if (auto status = cli.parse(argc, argv)) return *status;

    try {
        const examples::FdBudget budget = examples::raise_fd_budget(scale.threads);
        if (scale.max_conns > 0 &&
            !examples::check_fd_plan("coro_echo_server", budget, scale.max_conns, scale.workers))
            return 2;
        std::vector<iomux::UniqueFd> listeners =
            iomux::listen_tcp_for_loops("127.0.0.1", opts.port, scale.loops(), scale.shared_listener);
        const std::uint16_t port = iomux::local_address(listeners.front().get()).port;

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
            "coro_echo_server", scale.workers,
            [&](std::size_t w, const std::function<void()>& ready) {
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
        fmt::print(stderr, "coro_echo_server: {}\n", e.what());
        return 1;
    }
}
