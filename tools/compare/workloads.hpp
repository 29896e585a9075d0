// The workloads as sweeps over cases, backends and repeats, writing into a Report.
// Backends are interleaved run by run so that drift in the machine (other load, thermal
// state) spreads over all of them alike instead of landing on one, and the order turns
// each run (A B C, B C A, C A B, ...) so that no backend always goes first, which costs
// the first one of a repeat (README.md says how much).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "options.hpp"
#include "report.hpp"

namespace iomux::compare {

struct Context {
    const Options& options;
    Report& report;
    std::vector<std::string> backends;  // iomux backends this build has, in the order asked
    std::vector<std::string> peers;     // peer libraries (peers.hpp) to compare with
    bool bare_uring = false;            // bare-io_uring is built and the kernel allows it
    bool failed = false;                // a run failed: the exit status is 1
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

    // One line on stderr unless --quiet: long sweeps should not look hung.
    void progress(std::string_view line) const {
        if (options.quiet) return;
        const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
        fmt::print(stderr, "[iomux_compare {:6.1f} s] {}\n", elapsed.count(), line);
    }
    void note(std::string text) { report.notes.push_back(std::move(text)); }
    void failure(std::string text) {
        failed = true;
        note("FAILED: " + text);
    }
    // The rows each run makes: bare-epoll first (unless --no-bare), iomux, then peers.
    std::vector<std::string> rows() const {
        std::vector<std::string> names;
        if (options.bare) names.emplace_back(kBareEpoll);
        names.insert(names.end(), backends.begin(), backends.end());
        names.insert(names.end(), peers.begin(), peers.end());
        return names;
    }
    // The rows of the workloads that drive an echo server: bare-io_uring too, second.
    std::vector<std::string> echo_rows() const {
        std::vector<std::string> names = rows();
        if (options.bare && bare_uring) names.insert(names.begin() + 1, std::string(kBareIoUring));
        return names;
    }
    // run_one(row) for every row, --repeat times, interleaved in turning order; a run that
    // throws is a failure named by label, row and run.
    template <class Row>
    void sweep(std::string_view label, const std::vector<Row>& rows, const std::function<void(const Row&)>& run_one,
               const std::function<std::string(const Row&)>& name = [](const Row& r) { return r; }) {
        for (std::size_t run = 0; run < options.repeat; ++run) {
            std::vector<Row> order = rows;
            if (!order.empty()) std::rotate(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(run % order.size()), order.end());
            for (const Row& row : order) {
                progress(fmt::format("{} run {}/{} {}", label, run + 1, options.repeat, name(row)));
                try {
                    run_one(row);
                } catch (const std::exception& e) {
                    failure(fmt::format("{} {} run {}: {}", label, name(row), run + 1, e.what()));
                }
            }
        }
    }
};

void run_dispatch_workload(Context& ctx);      // dispatch_sweep.cpp
void run_echo_workload(Context& ctx);          // echo_sweep.cpp
void run_connect_workload(Context& ctx);       // connect_sweep.cpp
void run_scaling_workload(Context& ctx);       // scaling_sweep.cpp
void run_instructions_workload(Context& ctx);  // instructions_sweep.cpp

}  // namespace iomux::compare
