#include "common/acceptor.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>

namespace examples {
namespace {

using namespace std::chrono_literals;

// Accepts per readiness: enough to drain a burst quickly, few enough to stay fair.
constexpr int kMaxAcceptsPerWakeup = 64;
// How long the listener is ignored when accept() keeps failing for want of resources.
constexpr auto kPause = 100ms;

iomux::UniqueFd open_spare() { return iomux::UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }

int accept_one(int listener) {
    return ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

}  // namespace

Acceptor::Acceptor(iomux::Reactor& reactor, iomux::UniqueFd listener, OnAccept on_accept, iomux::Wakeup wakeup)
    : reactor_(reactor), listener_(std::move(listener)), spare_(open_spare()),
      on_accept_(std::move(on_accept)), wakeup_(wakeup) {
    watch();
}

Acceptor::~Acceptor() {
    resume_.cancel();
    reactor_.remove_reader(listener_.get());
}

void Acceptor::watch() {
    reactor_.add_reader(listener_.get(), [this] { on_readable(); }, wakeup_);
}

void Acceptor::on_readable() {
    for (int i = 0; i < kMaxAcceptsPerWakeup; ++i) {
        iomux::UniqueFd sock(accept_one(listener_.get()));
        if (sock) {
            ++stats_.accepted;
            // Without it a client that pipelines small messages waits on Nagle's algorithm
            // and the peer's delayed ACK: 40 ms stalls.
            const int on = 1;
            ::setsockopt(sock.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
            on_accept_(std::move(sock));
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
        pause();  // ENOBUFS, ENOMEM, or out of fds without a spare: give the system time
        return;
    }
    // Stopped with connections possibly still pending: an edge-triggered backend would not
    // report the listener again, so ask for another turn.
    reactor_.keep_ready(listener_.get(), iomux::EVENT_READ);
}

Acceptor::Shed Acceptor::shed_one() {
    if (!spare_) return Shed::failed;
    spare_.reset();
    Shed result = Shed::failed;
    {
        const iomux::UniqueFd doomed(accept_one(listener_.get()));
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

void Acceptor::pause() {
    ++stats_.pauses;
    reactor_.remove_reader(listener_.get());
    resume_ = reactor_.call_later(kPause, [this] {
        if (!spare_) spare_ = open_spare();
        watch();
    });
}

}  // namespace examples
