// bare_epoll_echo: the limit row of the echo workload. An echo server on level-triggered
// epoll with nothing on top: an fd-indexed table, one recv and one send per readiness
// report, write interest only while a reply is stuck. It speaks the protocol of
// examples/echo_server (--port, the "listening on" line, exit 0 on SIGTERM), so the
// comparison drives both the same way. It does what a correct server must (partial
// writes, backpressure, EOF after flushing, EMFILE on accept) and nothing more.
//
//   bare_epoll_echo --port 0
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "echo_server_common.hpp"
#include "poller/unique_fd.hpp"

namespace {

using iomux::UniqueFd;

[[noreturn]] void fail(const char* what) {
    throw std::system_error(errno, std::generic_category(), what);
}

// A connection whose reply did not fit in the socket keeps the rest here and stops reading
// until it is sent: memory per connection is bounded by one read.
struct Conn {
    UniqueFd sock;
    std::vector<char> unsent;
    std::size_t offset = 0;
    bool eof = false;
};

class Server {
public:
    Server(UniqueFd listener, UniqueFd signals)
        : epfd_(::epoll_create1(EPOLL_CLOEXEC)), listener_(std::move(listener)), signals_(std::move(signals)),
          spare_(::open("/dev/null", O_RDONLY | O_CLOEXEC)) {
        if (!epfd_) fail("epoll_create1");
        watch(EPOLL_CTL_ADD, listener_.get(), EPOLLIN);
        watch(EPOLL_CTL_ADD, signals_.get(), EPOLLIN);
    }

    void run() {
        std::array<epoll_event, 1024> events;
        while (!stopping_) {
            const int n = ::epoll_wait(epfd_.get(), events.data(), static_cast<int>(events.size()), -1);
            if (n < 0) {
                if (errno == EINTR) continue;
                fail("epoll_wait");
            }
            for (int i = 0; i < n; ++i) {
                const int fd = events[static_cast<std::size_t>(i)].data.fd;
                const std::uint32_t ev = events[static_cast<std::size_t>(i)].events;
                if (fd == listener_.get()) accept_all();
                else if (fd == signals_.get()) stopping_ = true;
                else on_event(fd, ev);
            }
        }
    }

private:
    void watch(int op, int fd, std::uint32_t events) {
        epoll_event ev{};
        ev.events = events;
        ev.data.fd = fd;
        if (::epoll_ctl(epfd_.get(), op, fd, &ev) != 0) fail("epoll_ctl");
    }

    void accept_all() {
        for (;;) {
            const int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR || errno == ECONNABORTED) continue;
                if ((errno == EMFILE || errno == ENFILE) && spare_) {
                    // Out of fds: accept with the spare one and close at once, so the
                    // pending connection does not keep the listener readable forever.
                    spare_.reset();
                    UniqueFd(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
                    spare_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
                    continue;
                }
                return;  // EAGAIN: all accepted
            }
            const int on = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
            if (static_cast<std::size_t>(fd) >= conns_.size()) conns_.resize(static_cast<std::size_t>(fd) + 1024);
            conns_[static_cast<std::size_t>(fd)] = Conn{UniqueFd(fd), {}, 0, false};
            watch(EPOLL_CTL_ADD, fd, EPOLLIN);
        }
    }

    void on_event(int fd, std::uint32_t events) {
        Conn& c = conns_[static_cast<std::size_t>(fd)];
        if (!c.sock) return;
        if (!c.unsent.empty()) {
            if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) flush(fd, c);
            return;
        }
        const ssize_t n = ::recv(fd, buffer_.data(), buffer_.size(), 0);
        if (n > 0) {
            const ssize_t sent = ::send(fd, buffer_.data(), static_cast<std::size_t>(n), MSG_NOSIGNAL);
            if (sent == n) return;
            if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return close(fd, c);
            const std::size_t done = sent > 0 ? static_cast<std::size_t>(sent) : 0;
            c.unsent.assign(buffer_.data() + done, buffer_.data() + n);
            c.offset = 0;
            watch(EPOLL_CTL_MOD, fd, EPOLLOUT);  // stop reading until this is out
        } else if (n == 0) {
            close(fd, c);  // nothing unsent here (reading stops while something is)
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            close(fd, c);
        }
    }

    void flush(int fd, Conn& c) {
        const ssize_t sent = ::send(fd, c.unsent.data() + c.offset, c.unsent.size() - c.offset, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) close(fd, c);
            return;
        }
        c.offset += static_cast<std::size_t>(sent);
        if (c.offset < c.unsent.size()) return;
        c.unsent.clear();
        c.unsent.shrink_to_fit();
        watch(EPOLL_CTL_MOD, fd, EPOLLIN);
    }

    void close(int fd, Conn& c) {
        ::epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, fd, nullptr);
        c = Conn{};
    }

    UniqueFd epfd_, listener_, signals_, spare_;
    std::vector<Conn> conns_;
    std::array<char, iomux::compare::kReadChunk> buffer_{};  // shared: only one connection is served at a time
    bool stopping_ = false;
};

// SIGTERM and SIGINT arrive on an fd the loop watches: no handler, no global flag.
UniqueFd signal_fd() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) fail("sigprocmask");
    UniqueFd fd(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!fd) fail("signalfd");
    return fd;
}

}  // namespace

int main(int argc, char** argv) {
    int status = 0;
    const auto port = iomux::compare::parse_echo_args(
        argc, argv, "bare_epoll_echo",
        "An echo server on 127.0.0.1 over bare level-triggered epoll: the limit row of iomux_compare.", "epoll", status);
    if (!port) return status;
    try {
        UniqueFd signals = signal_fd();
        UniqueFd listener = iomux::compare::listen_loopback(*port);
        const int fd = listener.get();
        Server server(std::move(listener), std::move(signals));
        iomux::compare::announce(fd);
        server.run();
    } catch (const std::exception& e) {
        fmt::print(stderr, "bare_epoll_echo: {}\n", e.what());
        return 1;
    }
    return 0;
}
