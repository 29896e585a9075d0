// select_queue_server: the material's select() server, on the Selector API.
//
// Each client is greeted with "Hello client-side"; every message it sends is answered with
// "response: " + message. Replies wait in a per-connection queue until the socket is
// writable, as in the material, which keeps a dict of message queues beside select()'s
// input and output lists. Here the Selector's key says what an fd is (its data), and a
// connection is watched for writability only while its queue is not empty.
//
// A "message" is whatever one recv() returned, as in the material: TCP has no message
// boundaries, so a client that sends two messages quickly may get one reply for both.
//
// This program drives a Selector by hand instead of using the Reactor, so it does on every
// backend what edge-triggered epoll requires: it reads, writes and accepts until EAGAIN.
//
//   select_queue_server --port 8088 --backend select
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <deque>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>

#include <fmt/format.h>

#include "common/announce.hpp"
#include "common/options.hpp"
#include "poller/unique_fd.hpp"
#include "reactor/selector.hpp"
#include "reactor/server.hpp"

namespace {

using iomux::EVENT_READ;
using iomux::EVENT_WRITE;

// What a registered fd is: the data of its SelectorKey.
enum class Role { listener, signals, client };

// A client whose replies pile up past this is not read from until it catches up.
constexpr std::size_t kMaxQueued = 256 * 1024;

struct Client {
    iomux::UniqueFd sock;
    std::deque<std::string> queue;  // replies not sent yet; the front may be partly sent
    std::size_t front_sent = 0;     // bytes of queue.front() already sent
    std::size_t queued = 0;         // bytes in the queue, for backpressure
};

class QueueServer {
public:
    QueueServer(std::string_view backend, iomux::UniqueFd listener, iomux::UniqueFd signals)
        : listener_(std::move(listener)), signals_(std::move(signals)), sel_(backend) {
        sel_.register_fd(listener_.get(), EVENT_READ, Role::listener);
        sel_.register_fd(signals_.get(), EVENT_READ, Role::signals);
    }

    // Serves until SIGINT or SIGTERM.
    void run() {
        while (!done_) {
            for (auto [key, events] : sel_.select()) {
                switch (key.data) {
                case Role::listener: accept_all(); break;
                case Role::signals: done_ = true; break;
                case Role::client: serve(key.fd, events); break;
                }
            }
        }
    }

private:
    void accept_all() {
        for (;;) {
            iomux::UniqueFd sock(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
            if (!sock) {
                if (errno == EINTR || errno == ECONNABORTED) continue;
                // Out of fds, the pending connection stays pending and a level-triggered
                // listener stays readable: stop watching it until a client leaves, or this
                // loop would spin. (echo_server sheds such connections instead.)
                if (errno == EMFILE || errno == ENFILE) {
                    sel_.unregister(listener_.get());
                    accepting_ = false;
                }
                return;  // EAGAIN: drained
            }
            const int fd = sock.get();
            Client& client = clients_[fd];
            client.sock = std::move(sock);
            queue(client, "Hello client-side");
            sel_.register_fd(fd, interest(client), Role::client);
        }
    }

    void serve(int fd, std::uint32_t events) {
        Client& client = clients_.at(fd);
        if ((events & EVENT_READ) && !receive(fd, client)) return drop(fd);
        if ((events & EVENT_WRITE) && !send_queued(fd, client)) return drop(fd);
        sel_.modify(fd, interest(client));  // no system call when unchanged
    }

    // Reads until EAGAIN (or the queue is full), queueing a reply to each message.
    // Returns false when the client is gone.
    bool receive(int fd, Client& client) {
        char buf[4096];
        while (client.queued < kMaxQueued) {
            const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n > 0) {
                queue(client, fmt::format("response: {}", std::string_view(buf, static_cast<std::size_t>(n))));
            } else if (n == 0) {
                return false;  // the material drops the client at end of input too
            } else if (errno != EINTR) {
                return errno == EAGAIN || errno == EWOULDBLOCK;
            }
        }
        return true;
    }

    // Sends queued replies until the queue is empty or the kernel is full.
    bool send_queued(int fd, Client& client) {
        while (!client.queue.empty()) {
            const std::string& msg = client.queue.front();
            const ssize_t n = ::send(fd, msg.data() + client.front_sent, msg.size() - client.front_sent, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) continue;
                return errno == EAGAIN || errno == EWOULDBLOCK;
            }
            client.front_sent += static_cast<std::size_t>(n);
            client.queued -= static_cast<std::size_t>(n);
            if (client.front_sent == msg.size()) {
                client.queue.pop_front();
                client.front_sent = 0;
            }
        }
        return true;
    }

    static void queue(Client& client, std::string msg) {
        client.queued += msg.size();
        client.queue.push_back(std::move(msg));
    }

    // Read while the queue has room, write while it has something: never neither.
    static std::uint32_t interest(const Client& client) {
        std::uint32_t events = 0;
        if (client.queued < kMaxQueued) events |= EVENT_READ;
        if (!client.queue.empty()) events |= EVENT_WRITE;
        return events;
    }

    void drop(int fd) {
        sel_.unregister(fd);  // before the close: the selector must not watch a dead fd
        clients_.erase(fd);
        if (!accepting_) {
            sel_.register_fd(listener_.get(), EVENT_READ, Role::listener);
            accepting_ = true;
        }
    }

    // The fds are declared first so that they outlive the selector that watches them.
    iomux::UniqueFd listener_;
    iomux::UniqueFd signals_;
    std::unordered_map<int, Client> clients_;
    iomux::Selector<Role> sel_;
    bool accepting_ = true;
    bool done_ = false;
};

// SIGINT and SIGTERM, delivered as a readable fd instead of to a handler.
iomux::UniqueFd signal_fd() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0)
        throw std::system_error(errno, std::generic_category(), "sigprocmask");
    iomux::UniqueFd fd(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!fd) throw std::system_error(errno, std::generic_category(), "signalfd");
    return fd;
}

}  // namespace

int main(int argc, char** argv) {
    examples::CommandLine cli("select_queue_server",
                              "Greets each client, then answers every message with \"response: \" + message.");
    examples::ServerOptions opts;
    opts.add_to(cli);
    if (auto status = cli.parse(argc, argv)) return *status;

    try {
        iomux::UniqueFd listener = iomux::listen_tcp("127.0.0.1", opts.port);
        const int listener_fd = listener.get();
        QueueServer server(opts.backend, std::move(listener), signal_fd());
        examples::announce(listener_fd);
        server.run();
    } catch (const std::exception& e) {
        fmt::print(stderr, "select_queue_server: {}\n", e.what());
        return 1;
    }
    return 0;
}
