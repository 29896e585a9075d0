// asio (standalone, its epoll reactor) as asio users write readiness code: an
// asio::posix::stream_descriptor per pair and async_wait(wait_read), armed again after
// every event; cancel() + async_wait for every pair each round (bench.c's event_del +
// event_add), io_context::poll() passes. asio registers each descriptor edge-triggered and
// forgets a readiness no wait was queued for, so a pair that still holds a byte (two chains
// met on it) posts its handler again instead of waiting: the Reactor's keep_ready.
#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>

#include <vector>

#include "dispatch_rounds.hpp"
#include "peers.hpp"

namespace iomux::compare {
namespace {

class AsioLoop {
public:
    explicit AsioLoop(HotPotato& chain) : chain_(chain) {
        pairs_.reserve(chain.size());
        for (std::size_t i = 0; i < chain.size(); ++i) pairs_.emplace_back(io_, chain.read_fd(i));
    }
    ~AsioLoop() {
        for (auto& d : pairs_) d.release();  // the fds belong to the socket pairs
    }
    AsioLoop(const AsioLoop&) = delete;
    AsioLoop& operator=(const AsioLoop&) = delete;

    void add_all() {
        for (std::size_t i = 0; i < pairs_.size(); ++i) wait(i);
    }
    void readd_all() {
        for (std::size_t i = 0; i < pairs_.size(); ++i) {
            pairs_[i].cancel();
            wait(i);
        }
    }
    void run_once() {
        io_.restart();
        io_.poll();
    }

private:
    void wait(std::size_t i) {
        pairs_[i].async_wait(asio::posix::stream_descriptor::wait_read, [this, i](const asio::error_code& ec) {
            if (!ec) readable(i);
        });
    }
    void readable(std::size_t i) {
        if (chain_.on_readable(i))
            asio::post(io_, [this, i] { readable(i); });
        else
            wait(i);
    }

    HotPotato& chain_;
    asio::io_context io_{1};  // the concurrency hint of a program with one thread
    std::vector<asio::posix::stream_descriptor> pairs_;
};

}  // namespace

DispatchRun run_asio_dispatch(HotPotato& chain, const DispatchConfig& config) {
    AsioLoop loop(chain);
    return measure_rounds(loop, chain, config);
}

}  // namespace iomux::compare
