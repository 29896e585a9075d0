// peer_echo_asio: an echo server as asio users write one, after asio's own example
// (cpp11/echo/async_tcp_echo_server.cpp): a session per connection that async_read_some's
// into its 1024-byte buffer and async_write's what came, then reads again (so a client that
// does not read is not read from either); one io_context on one thread. Built twice: on
// asio's epoll reactor (peer_echo_asio), and with ASIO_HAS_IO_URING + ASIO_DISABLE_EPOLL on
// its io_uring backend (peer_echo_asio-io_uring), where reads and writes are completions.
#include <array>
#include <csignal>
#include <memory>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/signal_set.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>

#include "echo_server_common.hpp"

#ifndef PEER_NAME
#define PEER_NAME "asio"
#endif

namespace {

using asio::ip::tcp;

class Session : public std::enable_shared_from_this<Session> {
public:
    explicit Session(tcp::socket socket) : socket_(std::move(socket)) {}
    void read() {
        socket_.async_read_some(asio::buffer(data_), [self = shared_from_this()](asio::error_code ec, std::size_t n) {
            if (!ec) self->write(n);
        });
    }

private:
    void write(std::size_t n) {
        asio::async_write(socket_, asio::buffer(data_, n), [self = shared_from_this()](asio::error_code ec, std::size_t) {
            if (!ec) self->read();
        });
    }

    tcp::socket socket_;
    std::array<char, 1024> data_;
};

void accept(tcp::acceptor& acceptor) {
    acceptor.async_accept([&acceptor](asio::error_code ec, tcp::socket socket) {
        if (!ec) {
            socket.set_option(tcp::no_delay(true), ec);
            std::make_shared<Session>(std::move(socket))->read();
        }
        accept(acceptor);
    });
}

}  // namespace

int main(int argc, char** argv) {
    int status = 0;
    const auto port = iomux::compare::parse_echo_args(
        argc, argv, "peer_echo_" PEER_NAME, "An echo server on 127.0.0.1 written with " PEER_NAME ": a peer row of iomux_compare.",
        PEER_NAME, status);
    if (!port) return status;
    try {
        asio::io_context io(1);
        iomux::UniqueFd listener = iomux::compare::listen_loopback(*port);
        const int fd = listener.get();
        tcp::acceptor acceptor(io, tcp::v4(), listener.release());
        accept(acceptor);
        asio::signal_set signals(io, SIGINT, SIGTERM);
        signals.async_wait([&io](asio::error_code, int) { io.stop(); });
        iomux::compare::announce(fd);
        io.run();
    } catch (const std::exception& e) {
        fmt::print(stderr, "peer_echo_{}: {}\n", PEER_NAME, e.what());
        return 1;
    }
    return 0;
}
