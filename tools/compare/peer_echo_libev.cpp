// peer_echo_libev: an echo server as libev users write one: an ev_io per connection, one
// recv and one send per readiness report, and the watcher switched to EV_WRITE while a
// reply is stuck (reading stops until it is sent). Epoll backend, like every other row.
#include <ev.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <memory>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "echo_server_common.hpp"

namespace {

using iomux::UniqueFd;

class Server;

struct Conn {
    ev_io io;  // io.data points back to the Server
    UniqueFd sock;
    std::vector<char> unsent;
    std::size_t offset = 0;
};

class Server {
public:
    Server(struct ev_loop* loop, UniqueFd listener) : loop_(loop), listener_(std::move(listener)) {
        ev_io_init(&accept_io_, on_accept, listener_.get(), EV_READ);
        accept_io_.data = this;
        ev_io_start(loop_, &accept_io_);
    }
    ~Server() {
        ev_io_stop(loop_, &accept_io_);
        for (auto& c : conns_)
            if (c) ev_io_stop(loop_, &c->io);
    }
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

private:
    static void on_accept(struct ev_loop*, ev_io* w, int) { static_cast<Server*>(w->data)->accept_all(); }
    static void on_conn(struct ev_loop*, ev_io* w, int revents) {
        static_cast<Server*>(w->data)->serve(w->fd, revents);
    }

    void accept_all() {
        for (;;) {
            const int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) return;  // EAGAIN, or out of fds: the next report retries
            const int on = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
            if (static_cast<std::size_t>(fd) >= conns_.size()) conns_.resize(static_cast<std::size_t>(fd) + 1024);
            auto& c = conns_[static_cast<std::size_t>(fd)];
            c = std::make_unique<Conn>();
            c->sock.reset(fd);
            ev_io_init(&c->io, on_conn, fd, EV_READ);
            c->io.data = this;
            ev_io_start(loop_, &c->io);
        }
    }

    void serve(int fd, int revents) {
        Conn& c = *conns_[static_cast<std::size_t>(fd)];
        if (!c.unsent.empty()) {
            if (revents & EV_WRITE) flush(c);
            return;
        }
        const ssize_t n = ::recv(fd, buffer_.data(), buffer_.size(), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return close(fd);
        if (n < 0) return;
        const ssize_t sent = ::send(fd, buffer_.data(), static_cast<std::size_t>(n), MSG_NOSIGNAL);
        if (sent == n) return;
        if (sent < 0 && errno != EAGAIN) return close(fd);
        c.unsent.assign(buffer_.data() + (sent > 0 ? sent : 0), buffer_.data() + n);
        c.offset = 0;
        watch(c, EV_WRITE);
    }

    void flush(Conn& c) {
        const ssize_t sent = ::send(c.sock.get(), c.unsent.data() + c.offset, c.unsent.size() - c.offset, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno != EAGAIN && errno != EINTR) close(c.sock.get());
            return;
        }
        c.offset += static_cast<std::size_t>(sent);
        if (c.offset < c.unsent.size()) return;
        c.unsent.clear();
        watch(c, EV_READ);
    }

    void watch(Conn& c, int events) {
        ev_io_stop(loop_, &c.io);
        ev_io_set(&c.io, c.sock.get(), events);
        ev_io_start(loop_, &c.io);
    }

    void close(int fd) {
        auto& c = conns_[static_cast<std::size_t>(fd)];
        ev_io_stop(loop_, &c->io);
        c.reset();
    }

    struct ev_loop* loop_;
    UniqueFd listener_;
    ev_io accept_io_{};
    std::vector<std::unique_ptr<Conn>> conns_;  // by fd; pointers stay put for libev
    std::array<char, iomux::compare::kReadChunk> buffer_{};
};

void on_signal(struct ev_loop* loop, ev_signal*, int) {
    ev_break(loop, EVBREAK_ALL);
}

}  // namespace

int main(int argc, char** argv) {
    int status = 0;
    const auto port = iomux::compare::parse_echo_args(
        argc, argv, "peer_echo_libev", "An echo server on 127.0.0.1 written with libev: a peer row of iomux_compare.", "libev",
        status);
    if (!port) return status;
    try {
        // The default loop: the only one libev lets handle signals.
        struct ev_loop* loop = ev_default_loop(EVBACKEND_EPOLL);
        if (!loop) throw std::runtime_error("no epoll loop");
        UniqueFd listener = iomux::compare::listen_loopback(*port);
        const int fd = listener.get();
        {
            Server server(loop, std::move(listener));
            ev_signal term, intr;
            ev_signal_init(&term, on_signal, SIGTERM);
            ev_signal_init(&intr, on_signal, SIGINT);
            ev_signal_start(loop, &term);
            ev_signal_start(loop, &intr);
            iomux::compare::announce(fd);
            ev_run(loop, 0);
            ev_signal_stop(loop, &term);
            ev_signal_stop(loop, &intr);
        }
        ev_loop_destroy(loop);
    } catch (const std::exception& e) {
        fmt::print(stderr, "peer_echo_libev: {}\n", e.what());
        return 1;
    }
    return 0;
}
