// echo_server: sends every byte back to the client that sent it.
//
// The material's selectors echo server does `data = conn.recv(1024); conn.send(data)` and
// hopes the send does not block. This one handles what that leaves out:
//  - send() may take part of the data: the rest is buffered, and the connection watches for
//    writability only while something is buffered.
//  - a client that sends but does not read: past a high-water mark the server stops reading
//    from it (TCP then slows the client down) and resumes once its backlog drained, so
//    memory stays bounded.
//  - end of input (the client shut down its writing side): everything received is echoed,
//    then the connection is closed. A reset peer (ECONNRESET, EPIPE) is closed at once, and
//    MSG_NOSIGNAL keeps SIGPIPE from killing the server.
//  - fairness: each read callback reads at most kReadBudget bytes; when it stops before the
//    socket is drained it calls keep_ready() so that edge-triggered epoll loses nothing.
//  - running out of fds while accepting (see common/acceptor.hpp).
//
// It scales out the two ways a server can: --threads N runs N loops in this process, one
// per thread (common/loop_threads.hpp), and --workers N runs N pre-forked processes under a
// supervising parent (common/prefork.hpp), for more connections than one process may hold
// fds. Each loop has its own SO_REUSEPORT listener on the one port, or with
// --shared-listener a dup of one listening socket (common/listener.hpp), which wakes every
// loop for each connection unless --exclusive asks for one (common/acceptor.hpp).
//
//   echo_server --port 8000 --backend epoll-et
//   echo_server --port 8000 --workers 6 --max-conns 100000
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "common/acceptor.hpp"
#include "common/fd_budget.hpp"
#include "common/listener.hpp"
#include "common/loop_threads.hpp"
#include "common/options.hpp"
#include "common/out_buffer.hpp"
#include "common/prefork.hpp"
#include "poller/unique_fd.hpp"
#include "reactor/reactor.hpp"

namespace {

using examples::OutBuffer;
using iomux::EVENT_READ;

constexpr std::size_t kReadBudget = 64 * 1024;   // per read callback
constexpr std::size_t kHighWater = 256 * 1024;   // stop reading a client with this much unsent
constexpr std::size_t kLowWater = 64 * 1024;     // resume once its backlog is down to this

class EchoServer {
public:
    EchoServer(iomux::Reactor& reactor, iomux::UniqueFd listener, iomux::Wakeup wakeup)
        : reactor_(reactor),
          acceptor_(reactor, std::move(listener), [this](iomux::UniqueFd sock) { on_accept(std::move(sock)); },
                    wakeup) {}

    ~EchoServer() {
        for (std::size_t fd = 0; fd < conns_.size(); ++fd)
            if (conns_[fd].sock) close(static_cast<int>(fd));
    }

    const examples::Acceptor::Stats& accept_stats() const { return acceptor_.stats(); }

private:
    // Small on purpose (16 bytes): the server may hold tens of thousands, mostly idle.
    struct Connection {
        iomux::UniqueFd sock;  // closed: no connection on this fd number
        bool reading = true;   // false while unsent is over the high-water mark
        bool eof = false;      // the client will send no more: close once unsent is empty
        OutBuffer unsent;      // echoed bytes the kernel has not taken yet
    };
    static_assert(sizeof(Connection) <= 16);

    void on_accept(iomux::UniqueFd sock) {
        const auto fd = static_cast<std::size_t>(sock.get());
        // Indexed by fd: the kernel hands out the lowest free numbers, so this stays about
        // as long as the number of open fds, with no per-connection allocation.
        if (fd >= conns_.size()) conns_.resize(fd + 1);  // grows geometrically
        conns_[fd].sock = std::move(sock);  // a free slot is a default Connection: see close()
        start_reading(static_cast<int>(fd));
    }

    void start_reading(int fd) {
        // The callbacks capture only the fd: the Connection is looked up each time, so
        // closing it never leaves a callback holding a dangling reference.
        reactor_.add_reader(fd, [this, fd] { on_readable(fd); });
    }

    void on_readable(int fd) {
        Connection& c = conns_[static_cast<std::size_t>(fd)];
        std::size_t budget = kReadBudget;
        while (budget > 0) {
            const std::size_t want = std::min(buf_.size(), budget);
            const ssize_t n = ::recv(fd, buf_.data(), want, 0);
            if (n > 0) {
                budget -= static_cast<std::size_t>(n);
                if (!echo(fd, c, std::string_view(buf_.data(), static_cast<std::size_t>(n)))) return;
                if (!c.reading) return;  // backpressure: resumed by on_writable
                // A short read emptied the socket: on a level-triggered backend the next
                // recv would only say EAGAIN, and whatever comes later is reported anyway.
                // Edge-triggered must read on: a FIN that came with the data makes no new edge.
                if (static_cast<std::size_t>(n) < want && !reactor_.edge_triggered()) return;
                continue;
            }
            if (n == 0) {  // the client shut down its side (or closed): finish, then close
                c.eof = true;
                reactor_.remove_reader(fd);
                if (c.unsent.empty()) close(fd);
                return;
            }
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // drained
            close(fd);  // ECONNRESET and the like
            return;
        }
        // Budget spent with data possibly left: come back next iteration, after the others.
        reactor_.keep_ready(fd, EVENT_READ);
    }

    // Sends data back, buffering what does not fit. Returns false when it closed c.
    bool echo(int fd, Connection& c, std::string_view data) {
        const bool was_empty = c.unsent.empty();
        switch (c.unsent.write(fd, data)) {
        case OutBuffer::Status::drained:
            return true;
        case OutBuffer::Status::failed:
            close(fd);
            return false;
        case OutBuffer::Status::blocked:
            break;
        }
        if (was_empty) reactor_.add_writer(fd, [this, fd] { on_writable(fd); });
        if (c.unsent.size() >= kHighWater) {
            c.reading = false;
            reactor_.remove_reader(fd);
        }
        return true;
    }

    void on_writable(int fd) {
        Connection& c = conns_[static_cast<std::size_t>(fd)];
        const OutBuffer::Status status = c.unsent.flush(fd);
        if (status == OutBuffer::Status::failed) return close(fd);
        if (status == OutBuffer::Status::drained) {
            reactor_.remove_writer(fd);
            if (c.eof) return close(fd);
        }
        if (!c.reading && !c.eof && c.unsent.size() <= kLowWater) {
            c.reading = true;
            start_reading(fd);
            // The socket may have been readable all along; an edge-triggered backend would
            // not report it again, so ask for a turn rather than wait for new data.
            reactor_.keep_ready(fd, EVENT_READ);
        }
    }

    void close(int fd) {
        // Callbacks first: the reactor does not own the fd and must forget it before the
        // number can be reused.
        reactor_.remove_reader(fd);
        reactor_.remove_writer(fd);
        conns_[static_cast<std::size_t>(fd)] = Connection{};  // closes the socket
    }

    iomux::Reactor& reactor_;
    examples::Acceptor acceptor_;
    std::vector<Connection> conns_;  // by fd
    std::vector<char> buf_ = std::vector<char>(kReadBudget);  // shared by all connections
};

// One loop's server: runs until the loop is stopped.
void serve(iomux::Reactor& loop, iomux::UniqueFd listener, iomux::Wakeup wakeup, const std::string& label, bool stats) {
    EchoServer server(loop, std::move(listener), wakeup);
    loop.run();
    if (stats) {
        const auto& s = server.accept_stats();
        fmt::print(stderr, "echo_server: {}{} connections accepted, {} shed for want of fds, {} pauses, {} idle wake-ups\n",
                   label, s.accepted, s.shed, s.pauses, s.idle_wakeups);
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
            examples::listen_tcp_for_loops(opts.port, scale.loops(), scale.shared_listener);
        const std::uint16_t port = examples::local_port(listeners.front().get());

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
