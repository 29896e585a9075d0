#include "reactor/server.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <system_error>

#include <fmt/format.h>

#include "reactor/transport_core.hpp"
#ifdef IOMUX_HAVE_IO_URING
#include "reactor/uring_acceptor.hpp"
#endif

namespace iomux {
namespace {

using namespace std::chrono_literals;

// Accepts per wake-up: enough to drain a burst quickly, few enough to stay fair.
constexpr int kMaxAcceptsPerWakeup = 64;
// How long the listener is left alone when accept() keeps failing for want of resources.
constexpr auto kRest = 100ms;

[[noreturn]] void throw_errno(const std::string& what) { throw std::system_error(errno, std::system_category(), what); }

UniqueFd open_spare() { return UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }

int accept_one(int listener) { return ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC); }

void set_flag(int fd, int level, int name, const char* what) {
    const int on = 1;
    if (::setsockopt(fd, level, name, &on, sizeof on) != 0) throw_errno(what);
}

}  // namespace

UniqueFd listen_tcp(std::string_view host, std::uint16_t port, const ServerOptions& options) {
    const ResolvedAddress addr = resolve(host, port);
    UniqueFd sock(::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!sock) throw_errno("socket");
    set_flag(sock.get(), SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR");
    if (options.reuse_port) set_flag(sock.get(), SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT");
    if (::bind(sock.get(), addr.get(), addr.length) != 0)
        throw_errno(fmt::format("bind {}", to_socket_address(addr.get()).to_string()));
    if (::listen(sock.get(), options.backlog) != 0) throw_errno("listen");
    return sock;
}

std::vector<UniqueFd> listen_tcp_for_loops(std::string_view host, std::uint16_t port, std::size_t n, bool shared,
                                           const ServerOptions& options) {
    ServerOptions first = options;
    first.reuse_port = options.reuse_port || (n > 1 && !shared);
    std::vector<UniqueFd> fds;
    fds.push_back(listen_tcp(host, port, first));
    port = local_address(fds.front().get()).port;
    while (fds.size() < n) {
        if (!shared) {
            fds.push_back(listen_tcp(host, port, first));
            continue;
        }
        UniqueFd dup(::fcntl(fds.front().get(), F_DUPFD_CLOEXEC, 0));
        if (!dup) throw_errno("dup listener");
        fds.push_back(std::move(dup));
    }
    return fds;
}

Server::Server(Reactor& loop, ProtocolFactory factory, UniqueFd listener, ServerOptions options)
    : loop_(loop), factory_(std::move(factory)), listener_(std::move(listener)), spare_(open_spare()),
      options_(options) {
#ifdef IOMUX_HAVE_IO_URING
    if (CompletionIo* io = loop.completion_io())
        acceptor_ = std::make_unique<UringAcceptor>(loop, *io, *this, listener_.get());
#endif
    update_watch();
}

Server::~Server() {
    close();
    // The loop owns the transports; they must forget this server before it is gone.
    for_each_connection([](TransportCore& t) {
        t.detach_server();
        t.abort();
    });
}

template <typename F>
void Server::for_each_connection(F&& f) {
    if (connections_ == 0) return;
    loop_.owned().for_each([&](Owned& o) {
        auto* t = dynamic_cast<TransportCore*>(&o);
        if (t != nullptr && t->server() == this) f(*t);
    });
}

void Server::close() {
    if (!listener_) return;
    rest_.cancel();
    const bool completion = static_cast<bool>(acceptor_);
#ifdef IOMUX_HAVE_IO_URING
    if (completion) {
        auto& acceptor = static_cast<UringAcceptor&>(*acceptor_);
        acceptor.detach();
        loop_.owned().adopt(std::move(acceptor_));
        acceptor.end_when_idle();
    }
#endif
    if (watching_ && !completion) loop_.remove_reader(listener_.get());
    watching_ = false;
    held_.clear();
    listener_.reset();
    spare_.reset();
}

void Server::close_clients() {
    for_each_connection([](TransportCore& t) { t.close(); });
}

void Server::abort_clients() {
    for_each_connection([](TransportCore& t) { t.abort(); });
}

SocketAddress Server::sockname() const {
    if (!listener_) throw std::system_error(EBADF, std::system_category(), "Server is closed");
    return local_address(listener_.get());
}

void Server::update_watch() {
    const bool below_limit = options_.max_connections == 0 || connections_ < options_.max_connections;
    if (below_limit && !held_.empty()) {  // served first; serve() comes back here
        UniqueFd sock = std::move(held_.front());
        held_.erase(held_.begin());
        return serve(std::move(sock));
    }
    const bool want = listener_ && !resting_ && below_limit;
    if (want == watching_) return;
    watching_ = want;
#ifdef IOMUX_HAVE_IO_URING
    if (acceptor_) {
        auto& acceptor = static_cast<UringAcceptor&>(*acceptor_);
        return want ? acceptor.start() : acceptor.stop();
    }
#endif
    if (!want) {
        loop_.remove_reader(listener_.get());
        return;
    }
    loop_.add_reader(listener_.get(), [this] { on_readable(); }, options_.wakeup);
    // Connections may have waited in the backlog meanwhile; an edge would not come again.
    loop_.keep_ready(listener_.get(), EVENT_READ);
}

void Server::on_readable() {
    for (int i = 0; i < kMaxAcceptsPerWakeup; ++i) {
        if (!watching_) return;  // at the limit, or closed by a protocol's callback
        UniqueFd sock(accept_one(listener_.get()));
        if (sock) {
            ++stats_.accepted;
            serve(std::move(sock));
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {  // backlog drained
            if (i == 0) ++stats_.idle_wakeups;
            return;
        }
        // The client gave up before we got to it: the next one may be fine.
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
        if (errno == EMFILE || errno == ENFILE) {
            const Shed shed = shed_one();
            if (shed == Shed::one) continue;
            if (shed == Shed::none_waiting) return;
        }
        pause_for_resources();  // ENOBUFS, ENOMEM, or out of fds without a spare
        return;
    }
    // Stopped with connections possibly still pending: ask for another turn.
    if (watching_) loop_.keep_ready(listener_.get(), EVENT_READ);
}

void Server::serve(UniqueFd sock) {
    if (options_.no_delay) {
        const int on = 1;
        ::setsockopt(sock.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);  // best effort
    }
    std::unique_ptr<Protocol> protocol;
    try {
        protocol = factory_();
    } catch (...) {
        ++stats_.refused;
        loop_.call_exception_handler(listener_.get(), std::current_exception());
        return;
    }
    if (!protocol) {
        ++stats_.refused;
        return;
    }
    // Counted from here; the transport's end (destruction) uncounts it, whatever happens.
    ++connections_;
    TransportCore& t = adopt_transport(loop_, std::move(sock), std::move(protocol), this);
    try {
        t.start();
    } catch (...) {  // the loop refused the fd (ENOMEM, ENOSPC for epoll's watch limit...)
        ++stats_.refused;
        const int fd = listener_.get();
        loop_.owned().destroy(t);
        loop_.call_exception_handler(fd, std::current_exception());
    }
    update_watch();  // at max_connections: stop accepting
}

void Server::accepted(UniqueFd sock) {
    ++stats_.accepted;
    // The kernel may complete a few accepts past the limit before the cancel reaches it.
    if (options_.max_connections != 0 && connections_ >= options_.max_connections) {
        held_.push_back(std::move(sock));
        return;
    }
    serve(std::move(sock));
}

void Server::accept_failed(int error) {
    // As on_readable(): the client gave up, or out of fds (shed one), or out of memory (rest).
    if (error == EINTR || error == ECONNABORTED || error == EPROTO) return;
    // Out of fds: shed one and go on. io_uring's accept takes an fd before it looks at the
    // backlog, so with nothing to shed, armed again it would fail at once, and again: rest.
    if ((error == EMFILE || error == ENFILE) && shed_one() == Shed::one) return;
    pause_for_resources();
}

void Server::connection_ended(TransportCore&) noexcept {
    --connections_;
    try {
        update_watch();
    } catch (...) {
        loop_.call_exception_handler(listener_.get(), std::current_exception());
    }
}

Server::Shed Server::shed_one() {
    if (!spare_) return Shed::failed;
    spare_.reset();
    Shed result = Shed::failed;
    {
        const UniqueFd doomed(accept_one(listener_.get()));
        if (doomed) {
            result = Shed::one;
            ++stats_.shed;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            // accept() wants a free fd before it looks at the backlog, so EMFILE does not
            // mean a connection is waiting.
            result = Shed::none_waiting;
        }
    }  // closed before the spare is reopened, or the spare would find no free fd
    spare_ = open_spare();
    return result;
}

void Server::pause_for_resources() {
    ++stats_.pauses;
    resting_ = true;
    update_watch();
    rest_ = loop_.call_later(kRest, [this] {
        resting_ = false;
        if (!spare_ && listener_) spare_ = open_spare();
        update_watch();
    });
}

std::unique_ptr<Server> create_server(Reactor& loop, ProtocolFactory factory, std::string_view host,
                                      std::uint16_t port, ServerOptions options) {
    return std::make_unique<Server>(loop, std::move(factory), listen_tcp(host, port, options), options);
}

}  // namespace iomux
