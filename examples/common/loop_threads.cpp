#include "common/loop_threads.hpp"

#include <pthread.h>

#include <csignal>
#include <stdexcept>

#include "reactor/reactor_threads.hpp"

namespace examples {
namespace {

// Blocks SIGINT and SIGTERM in this thread (and in the threads it starts) while it lives.
class StopSignalsBlocked {
public:
    StopSignalsBlocked() {
        sigemptyset(&set_);
        sigaddset(&set_, SIGINT);
        sigaddset(&set_, SIGTERM);
        block();
    }
    ~StopSignalsBlocked() { block(); }  // on every way out: see the header
    StopSignalsBlocked(const StopSignalsBlocked&) = delete;
    StopSignalsBlocked& operator=(const StopSignalsBlocked&) = delete;

    void block() noexcept { ::pthread_sigmask(SIG_BLOCK, &set_, nullptr); }
    void unblock() noexcept { ::pthread_sigmask(SIG_UNBLOCK, &set_, nullptr); }

private:
    sigset_t set_;
};

}  // namespace

void run_loops(std::string_view backend, std::vector<iomux::UniqueFd> listeners, const ServeLoop& serve,
               const std::function<void()>& on_ready) {
    if (listeners.empty()) throw std::invalid_argument("run_loops needs a listener per loop");
    iomux::Reactor main(backend);
    StopSignalsBlocked signals;  // after main: blocked again before main's handlers go
    main.add_signal_handler(SIGINT, [&] { main.stop(); });
    main.add_signal_handler(SIGTERM, [&] { main.stop(); });

    // Each thread takes its own element of listeners; none touches another's.
    iomux::ReactorThreads others(listeners.size() - 1, backend, [&](std::size_t i, iomux::Reactor& loop) {
        // One loop ending, by stop or by failure, ends the server.
        struct StopMain {
            iomux::Reactor& main;
            ~StopMain() { main.stop(); }
        } stop_main{main};
        serve(loop, std::move(listeners[i + 1]), i + 1);
    });
    if (on_ready) main.call_soon(on_ready);
    signals.unblock();  // here, not earlier: the threads above inherited the blocked mask
    serve(main, std::move(listeners[0]), 0);
    others.stop();
    others.join();
}

}  // namespace examples
