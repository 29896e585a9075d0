// The ways a Report is written out: an aligned table for people, JSON and CSV for
// machines, and the dispatch chart. Every figure comes with its ratio to the bare-epoll
// row of the same case.
#pragma once

#include <string>

#include "report.hpp"

namespace iomux::compare {

std::string format_table(const Report& report);  // table.cpp
std::string format_json(const Report& report);   // machine_output.cpp
std::string format_csv(const Report& report);    // machine_output.cpp

// --plot FILE.svg (plot.cpp): time per round against N, one line per backend, log axes;
// the loop alone on the left, with re-adding on the right; drawn by gnuplot when it is
// installed. Returns what happened, for stderr: the file written, or why not.
std::string plot_dispatch(const Report& report, const std::string& svg_path);

}  // namespace iomux::compare
