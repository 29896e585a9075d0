// The workloads as sweeps over cases, backends and repeats, writing into a Report.
// Backends are interleaved run by run so that drift in the machine (other load, thermal
// state) spreads over all of them alike instead of landing on one, and the order turns
// each run (A B C, B C A, C A B, ...) so that no backend always goes first: in dispatch,
// the one run first in each repeat was about 1% slower, whichever it was.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "options.hpp"
#include "report.hpp"

namespace iomux::compare {

struct Context {
    const Options& options;
    Report& report;
    std::vector<std::string> backends;  // iomux backends this build has, in the order asked
    std::vector<std::string> peers;     // peer libraries (peers.hpp) to compare with
    bool failed = false;                // a run failed: the exit status is 1
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

    // One line on stderr unless --quiet: long sweeps should not look hung.
    void progress(std::string_view line) const;
    void note(std::string text) { report.notes.push_back(std::move(text)); }
    void failure(std::string text) {
        failed = true;
        note("FAILED: " + text);
    }
    // The rows each run makes: bare-epoll first (unless --no-bare), iomux, then peers.
    std::vector<std::string> rows() const;
};

// The order of repeat number `run` (from 0): rows turned left by run places.
template <class T>
std::vector<T> run_order(std::vector<T> rows, std::size_t run) {
    if (!rows.empty()) std::rotate(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(run % rows.size()), rows.end());
    return rows;
}

void run_dispatch_workload(Context& ctx);  // dispatch_sweep.cpp
void run_echo_workload(Context& ctx);      // echo_sweep.cpp
void run_connect_workload(Context& ctx);   // connect_sweep.cpp
void run_scaling_workload(Context& ctx);   // scaling_sweep.cpp

}  // namespace iomux::compare
