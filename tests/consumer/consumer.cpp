// A program that uses iomux the way an outside project does: public headers only.
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include <fmt/format.h>
#include <reactor/connect.hpp>
#include <reactor/reactor.hpp>
#include <reactor/selector.hpp>
#include <reactor/server.hpp>
#include <reactor/transport.hpp>

namespace {

// The transports layer end to end: a client sends "ping", an echo server returns it.
struct Echo : iomux::Protocol {
    iomux::Transport* t = nullptr;
    void connection_made(iomux::Transport& tr) override { t = &tr; }
    void data_received(std::string_view data) override { t->write(data); }
};

struct Ping : iomux::Protocol {
    std::string* got;
    explicit Ping(std::string* g) : got(g) {}
    iomux::Transport* t = nullptr;
    void connection_made(iomux::Transport& tr) override { (t = &tr)->write("ping"); }
    void data_received(std::string_view data) override {
        got->append(data);
        if (*got == "ping") t->close();
    }
};

}  // namespace

int main() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 1;
    iomux::Selector<std::string> sel;
    sel.register_fd(sv[1], iomux::EVENT_WRITE, "peer");
    int ready = 0;
    for (auto [key, events] : sel.select(1.0)) ready += key.data == "peer" && events == iomux::EVENT_WRITE;
    iomux::Reactor loop;
    bool ran = false;
    loop.call_soon([&] { ran = true; });
    loop.run_once();

    auto server = iomux::create_server(loop, [] { return std::make_unique<Echo>(); }, "127.0.0.1", 0);
    std::string echoed;
    iomux::create_connection(loop, [&] { return std::make_unique<Ping>(&echoed); }, "127.0.0.1",
                             server->sockname().port, [](std::error_code) {});
    for (int i = 0; i < 100 && echoed != "ping"; ++i) loop.run_once(std::chrono::milliseconds(50));

    fmt::print("consumer: {} ready, call_soon {}, echo '{}', backends {}\n", ready, ran ? "ran" : "did not run",
               echoed, fmt::join(iomux::backend_names(), ","));
    ::close(sv[0]);
    ::close(sv[1]);
    return ready == 1 && ran && echoed == "ping" ? 0 : 1;
}
