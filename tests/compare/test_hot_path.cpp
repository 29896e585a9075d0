// "No allocation per event on iomux's hot path" (issue 5), shown with a counting allocator:
// the dispatch workload's loop phase, on every backend, after one warm-up round.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "hot_potato.hpp"
#include "reactor/reactor.hpp"

namespace {
// Global by necessity: operator new has no other place to count from.
std::atomic<std::size_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size ? size : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

using iomux::compare::HotPotato;

// Runs one bench.c round to completion; false if it stalls.
bool run_round(iomux::Reactor& reactor, HotPotato& chain) {
    chain.start_round();
    for (int pass = 0; pass < 100000 && !chain.done(); ++pass) reactor.run_once(std::chrono::nanoseconds::zero());
    return chain.done() && chain.failures() == 0;
}

}  // namespace

TEST_CASE("dispatch hot path: no allocation per event on any backend") {
    const auto pairs = iomux::compare::make_socket_pairs(200);
    for (const std::string& backend : iomux::backend_names()) {
        CAPTURE(backend);
        HotPotato chain(pairs, 50, 2000);
        iomux::Reactor reactor(backend);
        for (std::size_t i = 0; i < pairs.size(); ++i)
            reactor.add_reader(chain.read_fd(i), [&chain, &reactor, i] {
                if (chain.on_readable(i)) reactor.keep_ready(chain.read_fd(i), iomux::EVENT_READ);
            });
        REQUIRE(run_round(reactor, chain));  // warm-up: buffers reach their final sizes

        const std::uint64_t callbacks_before = reactor.stats().callbacks;
        const std::size_t before = g_allocations.load();
        REQUIRE(run_round(reactor, chain));
        const std::size_t allocations = g_allocations.load() - before;
        const std::uint64_t events = reactor.stats().callbacks - callbacks_before;
        CHECK(events >= 2050);
        CHECK(allocations == 0);

        // Re-adding is not the per-event path, but bench.c's "total" times it: say what it costs.
        const std::size_t readd_before = g_allocations.load();
        for (std::size_t i = 0; i < pairs.size(); ++i) {
            reactor.remove_reader(chain.read_fd(i));
            reactor.add_reader(chain.read_fd(i), [&chain, i] { chain.on_readable(i); });
        }
        MESSAGE(fmt::format("{}: {} allocations in a round of {} events; {:.2f} allocations per remove_reader + add_reader",
                            backend, allocations, events,
                            static_cast<double>(g_allocations.load() - readd_before) / static_cast<double>(pairs.size())));
    }
}
