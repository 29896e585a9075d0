// Server: accepts connections on a listening socket and gives each a transport and a
// protocol (asyncio's loop.create_server; muduo's TcpServer).
//
//   struct Echo : iomux::Protocol {
//       iomux::Transport* t = nullptr;
//       void connection_made(iomux::Transport& tr) override { t = &tr; }
//       void data_received(std::string_view data) override { t->write(data); }
//   };
//   iomux::Reactor loop;
//   auto server = iomux::create_server(loop, [] { return std::make_unique<Echo>(); }, "127.0.0.1", 8000);
//   loop.run();
//
// What it does for every connection, so that protocols need not:
//  - accepts every pending connection, up to 64 per wake-up (a connect storm cannot starve
//    established clients; an edge-triggered loop is asked for another turn); on the
//    completion path (Reactor::io_path), one multishot accept request does it all;
//  - sets TCP_NODELAY (a client that pipelines small messages would otherwise wait on
//    Nagle's algorithm and delayed ACKs: 40 ms stalls);
//  - out of fds (EMFILE, ENFILE), it neither spins nor stops: it closes a spare fd kept for
//    the purpose, accepts the connection with it and closes it at once (the client sees
//    the connection end instead of hanging), and re-opens the spare; when even that fails
//    it leaves the listener alone for 100 ms (stats().pauses);
//  - at max_connections it stops accepting until a connection ends; the kernel keeps the
//    next ones in the backlog meanwhile.
//
// Several loops, one port (ReactorThreads): one Server per loop, each on its loop's
// thread, on listeners from listen_tcp_for_loops(): SO_REUSEPORT sockets (the kernel
// spreads connections), or dups of one socket that every loop watches (an idle loop takes
// work a busy one leaves; Wakeup::exclusive wakes one loop per connection, not all).
//
// Lifetime: destroy a Server before its loop. Its destructor closes the listener and aborts
// the connections still open (connection_lost comes from the loop; or, if the loop never
// runs again, with ECANCELED when the loop is destroyed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "poller/poller.hpp"
#include "poller/unique_fd.hpp"
#include "reactor/protocol.hpp"
#include "reactor/reactor.hpp"
#include "reactor/socket_address.hpp"

namespace iomux {

class TransportCore;
class UringAcceptor;

struct ServerOptions {
    int backlog = 4096;              // the kernel caps it at net.core.somaxconn
    bool reuse_port = false;         // SO_REUSEPORT (SO_REUSEADDR is always set)
    Wakeup wakeup = Wakeup::all;     // Wakeup::exclusive for a listener several loops watch
    std::size_t max_connections = 0; // 0: no limit but the fds
    bool no_delay = true;            // TCP_NODELAY on accepted connections
};

// A listening socket: non-blocking, close-on-exec, SO_REUSEADDR (a restarted server binds
// while old connections sit in TIME_WAIT), SO_REUSEPORT if asked. port 0: the kernel picks.
// host as resolve() takes it (socket_address.hpp). Throws std::system_error.
UniqueFd listen_tcp(std::string_view host, std::uint16_t port, const ServerOptions& options = {});

// One listening fd per loop, all on one port (port 0: the first picks it).
//  - shared == false: n sockets with SO_REUSEPORT; the kernel gives each connection to one
//    of them by a hash of the client's address. A socket whose process dies takes the
//    connections in its queue with it.
//  - shared == true: one socket and n - 1 dups of it: every loop watching it wakes for each
//    connection unless they use Wakeup::exclusive.
// n == 1 is one plain socket either way.
std::vector<UniqueFd> listen_tcp_for_loops(std::string_view host, std::uint16_t port, std::size_t n, bool shared,
                                           const ServerOptions& options = {});

class Server {
public:
    struct Stats {
        std::uint64_t accepted = 0;
        std::uint64_t shed = 0;          // accepted and closed at once: no fd to serve them
        std::uint64_t pauses = 0;        // times the listener was left alone for a while
        std::uint64_t idle_wakeups = 0;  // readable, but another loop took the connection
        std::uint64_t refused = 0;       // the factory gave no protocol, or the loop refused the fd
    };

    // Serves on listener (listening, non-blocking) from now on. Throws what the loop's
    // add_reader throws.
    Server(Reactor& loop, ProtocolFactory factory, UniqueFd listener, ServerOptions options = {});
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Stops listening and closes the socket; open connections go on. Idempotent.
    void close();
    // close() / abort() on every open connection of this server (asyncio 3.13's).
    void close_clients();
    void abort_clients();

    bool is_serving() const noexcept { return static_cast<bool>(listener_); }
    // Connections open now (connection_lost not delivered yet).
    std::size_t connections() const noexcept { return connections_; }
    // The listening address (port 0 resolved). std::system_error after close().
    SocketAddress sockname() const;
    int fd() const noexcept { return listener_.get(); }
    Reactor& loop() const noexcept { return loop_; }
    const Stats& stats() const noexcept { return stats_; }

private:
    friend class TransportCore;
    friend class UringAcceptor;
    // The completion path's accepts (uring_acceptor.hpp).
    void accepted(UniqueFd sock);
    void accept_failed(int error);
    void connection_ended(TransportCore& transport) noexcept;
    void on_readable();
    void serve(UniqueFd sock);
    enum class Shed { one, none_waiting, failed };
    Shed shed_one();
    void pause_for_resources();
    void update_watch();
    template <typename F>
    void for_each_connection(F&& f);

    Reactor& loop_;
    ProtocolFactory factory_;
    UniqueFd listener_;
    UniqueFd spare_;  // the fd that EMFILE handling gives up for a moment
    ServerOptions options_;
    std::size_t connections_ = 0;
    bool watching_ = false;
    bool resting_ = false;  // left alone after running out of resources
    TimerHandle rest_;
    std::unique_ptr<Owned> acceptor_;  // a UringAcceptor, on the completion path
    std::vector<UniqueFd> held_;         // accepted by the kernel past max_connections
    Stats stats_;
};

// listen_tcp + Server (asyncio's loop.create_server).
std::unique_ptr<Server> create_server(Reactor& loop, ProtocolFactory factory, std::string_view host,
                                      std::uint16_t port, ServerOptions options = {});

}  // namespace iomux
