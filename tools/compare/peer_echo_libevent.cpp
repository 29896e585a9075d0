// peer_echo_libevent: an echo server as libevent users write one: an evconnlistener and a
// bufferevent per connection whose read callback moves its input buffer to its output
// buffer. Backpressure with libevent's watermarks: reading stops while 256 KiB are unsent
// and resumes once the output has drained. Epoll backend, like every other row.
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <csignal>
#include <memory>
#include <stdexcept>

#include <fmt/format.h>

#include "echo_server_common.hpp"

namespace {

// libevent's objects end with their own free functions.
template <auto F>
struct Free {
    template <class T>
    void operator()(T* p) const { F(p); }
};

constexpr std::size_t kHighWater = 256 * 1024;

// The bufferevent frees itself (BEV_OPT_CLOSE_ON_FREE closes the socket) in these callbacks:
// libevent owns each connection from accept to close.
void on_read(bufferevent* bev, void*) {
    evbuffer* out = bufferevent_get_output(bev);
    evbuffer_add_buffer(out, bufferevent_get_input(bev));
    if (evbuffer_get_length(out) >= kHighWater) bufferevent_disable(bev, EV_READ);
}

// Called when the output has drained (the write low watermark is 0).
void on_write(bufferevent* bev, void* closing) {
    if (closing) return bufferevent_free(bev);
    if (!(bufferevent_get_enabled(bev) & EV_READ)) bufferevent_enable(bev, EV_READ);
}

void on_event(bufferevent* bev, short what, void*) {
    if (what & BEV_EVENT_ERROR) return bufferevent_free(bev);
    if (what & BEV_EVENT_EOF) {
        // Everything received is echoed before the connection closes.
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) return bufferevent_free(bev);
        bufferevent_disable(bev, EV_READ);
        bufferevent_setcb(bev, nullptr, on_write, on_event, bev);
    }
}

void on_accept(evconnlistener* listener, evutil_socket_t fd, sockaddr*, int, void*) {
    const int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    bufferevent* bev = bufferevent_socket_new(evconnlistener_get_base(listener), fd, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        evutil_closesocket(fd);
        return;
    }
    bufferevent_setcb(bev, on_read, on_write, on_event, nullptr);
    bufferevent_enable(bev, EV_READ);
}

void on_signal(evutil_socket_t, short, void* base) {
    event_base_loopbreak(static_cast<event_base*>(base));
}

}  // namespace

int main(int argc, char** argv) {
    int status = 0;
    const auto port = iomux::compare::parse_echo_args(
        argc, argv, "peer_echo_libevent", "An echo server on 127.0.0.1 written with libevent: a peer row of iomux_compare.", "libevent",
        status);
    if (!port) return status;
    try {
        std::unique_ptr<event_config, Free<event_config_free>> config(event_config_new());
        event_config_avoid_method(config.get(), "select");
        event_config_avoid_method(config.get(), "poll");
        std::unique_ptr<event_base, Free<event_base_free>> base(event_base_new_with_config(config.get()));
        if (!base) throw std::runtime_error("no epoll event base");
        iomux::UniqueFd sock = iomux::compare::listen_loopback(*port);
        const int fd = sock.get();
        // Backlog 0: the socket is already listening with ours (-1 would listen again with 128).
        std::unique_ptr<evconnlistener, Free<evconnlistener_free>> listener(
            evconnlistener_new(base.get(), on_accept, nullptr, LEV_OPT_CLOSE_ON_FREE, 0, sock.release()));
        if (!listener) throw std::runtime_error("evconnlistener_new");
        std::unique_ptr<event, Free<event_free>> term(evsignal_new(base.get(), SIGTERM, on_signal, base.get()));
        std::unique_ptr<event, Free<event_free>> intr(evsignal_new(base.get(), SIGINT, on_signal, base.get()));
        event_add(term.get(), nullptr);
        event_add(intr.get(), nullptr);
        iomux::compare::announce(fd);
        event_base_dispatch(base.get());
    } catch (const std::exception& e) {
        fmt::print(stderr, "peer_echo_libevent: {}\n", e.what());
        return 1;
    }
    return 0;
}
