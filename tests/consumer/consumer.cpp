// A program that uses iomux the way an outside project does: public headers only.
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <reactor/reactor.hpp>
#include <reactor/selector.hpp>

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
    fmt::print("consumer: {} ready, call_soon {}, backends {}\n", ready, ran ? "ran" : "did not run",
               fmt::join(iomux::backend_names(), ","));
    ::close(sv[0]);
    ::close(sv[1]);
    return ready == 1 && ran ? 0 : 1;
}
