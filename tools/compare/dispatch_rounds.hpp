// The timed part of the dispatch workload, shared by every loop (iomux, bare epoll, peers)
// so that what is timed is the same code for all: only the Loop differs. A Loop has
//   add_all()    register every pair's read callback (set-up, not timed)
//   readd_all()  remove and add again every pair's callback (bench.c's event_del + event_add)
//   run_once()   one non-blocking pass of the loop
#pragma once

#include <chrono>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

// The instructions workload runs this under callgrind and counts the timed passes alone.
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define IOMUX_COMPARE_TOGGLE_COUNTING() CALLGRIND_TOGGLE_COLLECT
#else
#define IOMUX_COMPARE_TOGGLE_COUNTING() ((void)0)
#endif

#include "dispatch_bench.hpp"
#include "hot_potato.hpp"
#include "report.hpp"

namespace iomux::compare {

template <class Loop>
DispatchRun measure_rounds(Loop& loop, HotPotato& chain, const DispatchConfig& config) {
    using Clock = std::chrono::steady_clock;
    const auto micros = [](Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); };
    loop.add_all();
    loop.run_once();
    // A round that needs more passes than this has lost a byte: every pass handles at
    // least one read while the chains are alive.
    const std::size_t max_passes = 4 * (config.writes + config.active) + 1000;
    const auto give_up = Clock::now() + std::chrono::seconds(60);
    std::vector<double> loops, totals, readds;
    loops.reserve(config.rounds);
    totals.reserve(config.rounds);
    readds.reserve(config.rounds);
    for (std::size_t round = 0; round <= config.rounds; ++round) {  // round 0 warms up
        const auto t0 = Clock::now();
        loop.readd_all();
        loop.run_once();  // bench.c: one non-blocking pass to apply the changes
        const auto readded = Clock::now();
        chain.start_round();
        const auto t1 = Clock::now();
        if (round > 0) IOMUX_COMPARE_TOGGLE_COUNTING();
        std::size_t passes = 0;
        do {
            loop.run_once();
            if (++passes > max_passes || (passes % 1024 == 0 && Clock::now() > give_up))
                throw std::runtime_error(fmt::format("dispatch round stalled after {} passes", passes));
        } while (!chain.done());
        if (round > 0) IOMUX_COMPARE_TOGGLE_COUNTING();
        const auto t2 = Clock::now();
        if (chain.failures() != 0)
            throw std::runtime_error(fmt::format("dispatch: {} failed recv/send calls", chain.failures()));
        if (round == 0) continue;
        loops.push_back(micros(t2 - t1));
        totals.push_back(micros(t2 - t0));
        readds.push_back(micros(readded - t0));
    }
    return {summarize(loops).median, summarize(totals).median, summarize(readds).median};
}

}  // namespace iomux::compare
