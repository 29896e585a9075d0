// peer_echo_libuv: an echo server as libuv users write one: uv_tcp_t per connection,
// uv_read_start into one shared buffer, uv_try_write first and uv_write for what did not
// fit, reading paused until that write completes (backpressure).
#include <netinet/in.h>
#include <uv.h>

#include <array>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "echo_server_common.hpp"

namespace {

struct Server {
    uv_loop_t* loop;
    std::array<char, iomux::compare::kReadChunk> buffer{};
};

// libuv holds connections and write requests by raw pointer between a call and its
// callback; each is created by a unique_ptr, released to libuv, and taken back in the
// callback that ends it.
struct Conn {
    uv_tcp_t tcp;
    Server* server;
};

struct PendingWrite {
    uv_write_t req;
    std::vector<char> data;
};

void on_closed(uv_handle_t* handle) {
    std::unique_ptr<Conn>(static_cast<Conn*>(handle->data));
}

void close_conn(uv_stream_t* stream) {
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(stream))) uv_close(reinterpret_cast<uv_handle_t*>(stream), on_closed);
}

void on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
    Server& s = *static_cast<Conn*>(handle->data)->server;
    *buf = uv_buf_init(s.buffer.data(), static_cast<unsigned>(s.buffer.size()));
}

void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);

void on_written(uv_write_t* req, int status) {
    std::unique_ptr<PendingWrite> done(static_cast<PendingWrite*>(req->data));
    if (status < 0) return close_conn(req->handle);
    uv_read_start(req->handle, on_alloc, on_read);
}

void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    if (nread < 0) return close_conn(stream);  // UV_EOF or an error
    if (nread == 0) return;
    uv_buf_t data = uv_buf_init(buf->base, static_cast<unsigned>(nread));
    int sent = uv_try_write(stream, &data, 1);
    if (sent == nread) return;
    if (sent == UV_EAGAIN) sent = 0;
    if (sent < 0) return close_conn(stream);
    auto pending = std::make_unique<PendingWrite>();
    pending->data.assign(buf->base + sent, buf->base + nread);
    pending->req.data = pending.get();
    uv_buf_t rest = uv_buf_init(pending->data.data(), static_cast<unsigned>(pending->data.size()));
    uv_read_stop(stream);
    if (uv_write(&pending->req, stream, &rest, 1, on_written) != 0) return close_conn(stream);
    pending.release();  // on_written takes it back
}

void on_connection(uv_stream_t* listener, int status) {
    if (status < 0) return;
    Server* server = static_cast<Server*>(listener->data);
    auto conn = std::make_unique<Conn>();
    conn->server = server;
    uv_tcp_init(server->loop, &conn->tcp);
    conn->tcp.data = conn.get();
    if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&conn->tcp)) != 0) {
        uv_close(reinterpret_cast<uv_handle_t*>(&conn.release()->tcp), on_closed);
        return;
    }
    uv_tcp_nodelay(&conn->tcp, 1);
    uv_read_start(reinterpret_cast<uv_stream_t*>(&conn->tcp), on_alloc, on_read);
    conn.release();  // on_closed takes it back
}

void on_signal(uv_signal_t* handle, int) {
    uv_stop(handle->loop);
}

}  // namespace

int main(int argc, char** argv) {
    int status = 0;
    const auto port = iomux::compare::parse_echo_args(
        argc, argv, "peer_echo_libuv", "An echo server on 127.0.0.1 written with libuv: a peer row of iomux_compare.", "libuv",
        status);
    if (!port) return status;
    try {
        uv_loop_t loop;
        if (uv_loop_init(&loop) != 0) throw std::runtime_error("uv_loop_init");
        Server server{&loop};
        iomux::UniqueFd sock = iomux::compare::listen_loopback(*port);
        const int fd = sock.get();
        uv_tcp_t listener;
        uv_tcp_init(&loop, &listener);
        listener.data = &server;
        if (uv_tcp_open(&listener, sock.release()) != 0) throw std::runtime_error("uv_tcp_open");
        if (uv_listen(reinterpret_cast<uv_stream_t*>(&listener), 4096, on_connection) != 0) throw std::runtime_error("uv_listen");
        uv_signal_t term, intr;
        uv_signal_init(&loop, &term);
        uv_signal_init(&loop, &intr);
        uv_signal_start(&term, on_signal, SIGTERM);
        uv_signal_start(&intr, on_signal, SIGINT);
        iomux::compare::announce(fd);
        uv_run(&loop, UV_RUN_DEFAULT);
        // Close every handle (connections free themselves in on_closed), then the loop.
        uv_walk(&loop, [](uv_handle_t* h, void* listener) {
            if (uv_is_closing(h)) return;
            // Every TCP handle but the listener is a Conn.
            const bool conn = h->type == UV_TCP && h != listener;
            uv_close(h, conn ? on_closed : nullptr);
        }, &listener);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
    } catch (const std::exception& e) {
        fmt::print(stderr, "peer_echo_libuv: {}\n", e.what());
        return 1;
    }
    return 0;
}
