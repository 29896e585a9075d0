#include "dispatch_bench.hpp"

#include "bare_epoll_loop.hpp"
#include "dispatch_rounds.hpp"
#include "peers.hpp"
#include "reactor/reactor.hpp"

namespace iomux::compare {
namespace {

// Every loop is driven through the same three calls (dispatch_rounds.hpp), so that the
// timed code is the same for all.
class ReactorLoop {
public:
    ReactorLoop(std::string_view backend, HotPotato& chain) : reactor_(backend), chain_(chain) {}
    void add_all() {
        for (std::size_t i = 0; i < chain_.size(); ++i) add(i);
    }
    // bench.c's event_del + event_add for every pair, as libev's row does it: stop and
    // start the same watcher on the same fd. remove_reader + add_reader would cost one
    // syscall per fd, because a removed fd may be closed and its number reused.
    void readd_all() {
        for (std::size_t i = 0; i < chain_.size(); ++i) {
            reactor_.pause_reading(chain_.read_fd(i));
            reactor_.resume_reading(chain_.read_fd(i));
        }
    }
    void run_once() { reactor_.run_once(std::chrono::nanoseconds::zero()); }

private:
    void add(std::size_t i) {
        // Two words of capture: std::function keeps it inline, no allocation per add.
        reactor_.add_reader(chain_.read_fd(i), [this, i] {
            if (chain_.on_readable(i)) reactor_.keep_ready(chain_.read_fd(i), iomux::EVENT_READ);
        });
    }
    iomux::Reactor reactor_;
    HotPotato& chain_;
};

}  // namespace

DispatchRun run_dispatch(std::string_view backend, std::span<const SocketPair> pairs, const DispatchConfig& config) {
    HotPotato chain(pairs, config.active, config.writes);
    if (backend == kBareEpoll) {
        BareEpollLoop loop(chain);
        return measure_rounds(loop, chain, config);
    }
    if (is_peer(backend)) return run_peer_dispatch(backend, chain, config);
    ReactorLoop loop(backend, chain);
    return measure_rounds(loop, chain, config);
}

}  // namespace iomux::compare
