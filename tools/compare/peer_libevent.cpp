// libevent 2 on its epoll backend, driven as test/bench.c drives it: one persistent read
// event per pair, event_del + event_add for every pair each round, and
// event_base_loop(EVLOOP_ONCE | EVLOOP_NONBLOCK) passes.
#include <event2/event.h>

#include <memory>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "dispatch_rounds.hpp"
#include "peers.hpp"

namespace iomux::compare {
namespace {

// libevent's objects end with their own free functions.
template <auto F>
struct Free {
    template <class T>
    void operator()(T* p) const { F(p); }
};

struct Slot {
    HotPotato* chain;
    std::size_t index;
};

void on_read(evutil_socket_t, short, void* arg) {
    const Slot& s = *static_cast<Slot*>(arg);
    s.chain->on_readable(s.index);
}

class LibeventLoop {
public:
    explicit LibeventLoop(HotPotato& chain) : chain_(chain), slots_(chain.size()), events_(chain.size()) {
        // Its epoll backend, as every other row uses epoll (select and poll are iomux rows).
        std::unique_ptr<event_config, Free<event_config_free>> config(event_config_new());
        event_config_avoid_method(config.get(), "select");
        event_config_avoid_method(config.get(), "poll");
        base_.reset(event_base_new_with_config(config.get()));
        if (!base_ || std::string_view(event_base_get_method(base_.get())) != "epoll")
            throw std::runtime_error("libevent: no epoll event base");
    }
    ~LibeventLoop() {
        events_.clear();  // before the base they belong to
    }
    LibeventLoop(const LibeventLoop&) = delete;
    LibeventLoop& operator=(const LibeventLoop&) = delete;

    void add_all() {
        for (std::size_t i = 0; i < chain_.size(); ++i) {
            slots_[i] = {&chain_, i};
            events_[i].reset(event_new(base_.get(), chain_.read_fd(i), EV_READ | EV_PERSIST, on_read, &slots_[i]));
            if (!events_[i] || event_add(events_[i].get(), nullptr) != 0) throw std::runtime_error("libevent: event_add");
        }
    }
    void readd_all() {
        for (auto& e : events_) {
            event_del(e.get());
            event_add(e.get(), nullptr);
        }
    }
    void run_once() { event_base_loop(base_.get(), EVLOOP_ONCE | EVLOOP_NONBLOCK); }

private:
    HotPotato& chain_;
    std::unique_ptr<event_base, Free<event_base_free>> base_;
    std::vector<Slot> slots_;  // sized once: libevent holds pointers into it
    std::vector<std::unique_ptr<event, Free<event_free>>> events_;
};

}  // namespace

DispatchRun run_libevent_dispatch(HotPotato& chain, const DispatchConfig& config) {
    LibeventLoop loop(chain);
    return measure_rounds(loop, chain, config);
}

}  // namespace iomux::compare
