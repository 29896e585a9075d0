// libuv (epoll on Linux): one uv_poll_t per pair, uv_poll_stop + uv_poll_start for every pair
// each round, uv_run(UV_RUN_NOWAIT) passes.
#include <uv.h>

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

void on_read(uv_poll_t* handle, int status, int) {
    if (status < 0) return;  // the chain counts the byte as missing and the round fails
    const Slot& s = *static_cast<Slot*>(handle->data);
    s.chain->on_readable(s.index);
}

class LibuvLoop {
public:
    explicit LibuvLoop(HotPotato& chain) : chain_(chain), slots_(chain.size()), polls_(chain.size()) {
        if (uv_loop_init(&loop_) != 0) throw std::runtime_error("libuv: uv_loop_init");
    }
    ~LibuvLoop() {
        // Handles close asynchronously: run the loop until they have, then close it.
        for (std::size_t i = 0; i < initialised_; ++i) uv_close(reinterpret_cast<uv_handle_t*>(&polls_[i]), nullptr);
        uv_run(&loop_, UV_RUN_DEFAULT);
        uv_loop_close(&loop_);
    }
    LibuvLoop(const LibuvLoop&) = delete;
    LibuvLoop& operator=(const LibuvLoop&) = delete;

    void add_all() {
        for (std::size_t i = 0; i < chain_.size(); ++i) {
            slots_[i] = {&chain_, i};
            if (uv_poll_init(&loop_, &polls_[i], chain_.read_fd(i)) != 0) throw std::runtime_error("libuv: uv_poll_init");
            ++initialised_;
            polls_[i].data = &slots_[i];
            if (uv_poll_start(&polls_[i], UV_READABLE, on_read) != 0) throw std::runtime_error("libuv: uv_poll_start");
        }
    }
    void readd_all() {
        for (uv_poll_t& p : polls_) {
            uv_poll_stop(&p);
            uv_poll_start(&p, UV_READABLE, on_read);
        }
    }
    void run_once() { uv_run(&loop_, UV_RUN_NOWAIT); }

private:
    HotPotato& chain_;
    uv_loop_t loop_{};
    std::vector<Slot> slots_;      // sized once: the handles point into it
    std::vector<uv_poll_t> polls_;  // sized once: libuv holds pointers to them
    std::size_t initialised_ = 0;
};

}  // namespace

DispatchRun run_libuv_dispatch(HotPotato& chain, const DispatchConfig& config) {
    LibuvLoop loop(chain);
    return measure_rounds(loop, chain, config);
}

}  // namespace iomux::compare
