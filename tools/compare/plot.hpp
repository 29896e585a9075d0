// --plot FILE.svg: the dispatch scaling chart (time per round against N, one line per
// backend, log axes; the loop alone on the left, with re-adding on the right), drawn by
// gnuplot when it is installed.
#pragma once

#include <string>

#include "report.hpp"

namespace iomux::compare {

struct PlotOutcome {
    bool drawn = false;
    std::string message;  // what happened, for stderr: the file written, or why not
};

PlotOutcome plot_dispatch(const Report& report, const std::string& svg_path);

}  // namespace iomux::compare
