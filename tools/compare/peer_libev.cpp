// libev on its epoll backend with its native API: one ev_io per pair, ev_io_stop +
// ev_io_start for every pair each round (libev collapses a stop and start of the same fd in
// one iteration into no syscall at all: its fd change list), ev_run(EVRUN_NOWAIT) passes.
#include <ev.h>

#include <stdexcept>
#include <vector>

#include "dispatch_rounds.hpp"
#include "peers.hpp"

namespace iomux::compare {
namespace {

struct Slot {
    HotPotato* chain;
    std::size_t index;
};

void on_read(struct ev_loop*, ev_io* w, int) {
    const Slot& s = *static_cast<Slot*>(w->data);
    s.chain->on_readable(s.index);
}

class LibevLoop {
public:
    explicit LibevLoop(HotPotato& chain)
        : chain_(chain), loop_(ev_loop_new(EVBACKEND_EPOLL)), slots_(chain.size()), watchers_(chain.size()) {
        if (!loop_) throw std::runtime_error("libev: no epoll loop");
    }
    ~LibevLoop() {
        for (ev_io& w : watchers_) ev_io_stop(loop_, &w);
        ev_loop_destroy(loop_);
    }
    LibevLoop(const LibevLoop&) = delete;
    LibevLoop& operator=(const LibevLoop&) = delete;

    void add_all() {
        for (std::size_t i = 0; i < chain_.size(); ++i) {
            slots_[i] = {&chain_, i};
            ev_io_init(&watchers_[i], on_read, chain_.read_fd(i), EV_READ);
            watchers_[i].data = &slots_[i];
            ev_io_start(loop_, &watchers_[i]);
        }
    }
    void readd_all() {
        for (ev_io& w : watchers_) {
            ev_io_stop(loop_, &w);
            ev_io_start(loop_, &w);
        }
    }
    void run_once() { ev_run(loop_, EVRUN_NOWAIT); }

private:
    HotPotato& chain_;
    struct ev_loop* loop_;  // owned: destroyed above (libev has no RAII type)
    std::vector<Slot> slots_;       // sized once: the watchers point into it
    std::vector<ev_io> watchers_;   // sized once: libev holds pointers to them
};

}  // namespace

DispatchRun run_libev_dispatch(HotPotato& chain, const DispatchConfig& config) {
    LibevLoop loop(chain);
    return measure_rounds(loop, chain, config);
}

}  // namespace iomux::compare
