// What a comparison produces: rows of figures, one row per (workload, case, backend), each
// figure a set of samples (one per repeat) summarised as median and min-max. The table,
// JSON, CSV and plot writers all read this and nothing else.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace iomux::compare {

// The backend name of the limit row every other row is divided by.
inline constexpr std::string_view kBareEpoll = "bare-epoll";
// The second limit row, echo and connect only: bare io_uring completions (bare_uring_echo),
// what the kernel allows beyond readiness; it is divided by bare-epoll like every row.
inline constexpr std::string_view kBareIoUring = "bare-io_uring";

struct Summary {
    double median = 0, min = 0, max = 0;
};

// Median of an odd count is the middle sample; of an even count, the mean of the two middle
// ones. Empty input gives zeros.
Summary summarize(std::vector<double> samples);

struct Figure;
// Both figures have a range (two runs or more) and the ranges meet: the runs do not tell
// the two apart, whatever their medians say.
bool ranges_overlap(const Figure& a, const Figure& b);

struct Figure {
    std::string name;   // machine name, e.g. "loop_us"
    std::string label;  // table heading, e.g. "loop us/round"
    std::vector<double> samples;
    bool lower_is_better = true;

    Summary summary() const { return summarize(samples); }
};

// A case's parameters in the order they are shown, e.g. {{"n","1000"},{"active","100"}}.
using Params = std::vector<std::pair<std::string, std::string>>;

struct Row {
    std::string workload;  // "dispatch", "echo", "connect"
    Params params;
    std::string backend;   // an iomux backend name, or kBareEpoll
    std::vector<Figure> figures;

    Figure& figure(const std::string& name, const std::string& label, bool lower_is_better = true);
    // One more sample of a figure (created when new): chained, one call per figure.
    Row& add(const std::string& name, const std::string& label, double sample, bool lower_is_better = true) {
        figure(name, label, lower_is_better).samples.push_back(sample);
        return *this;
    }
    const Figure* find(std::string_view name) const;
    std::optional<std::string> param(std::string_view key) const;
    std::string case_label() const;  // "n=1000 active=100"
};

struct Report {
    std::vector<Row> rows;
    std::vector<std::string> notes;    // caps, skipped backends, anything the reader must know
    Params machine;                    // kernel, cpus, fd limit: to judge the numbers by

    // The row for that workload, case and backend; created (in order) when absent.
    Row& row(const std::string& workload, const Params& params, const std::string& backend);
    // The bare-epoll row of the same workload and case, if any.
    const Row* bare_for(const Row& row) const;
    // median(row's figure) / median(bare row's figure), when both exist and bare is not 0.
    std::optional<double> ratio_to_bare(const Row& row, const Figure& figure) const;
    // The bare row's figure of the same name, if any.
    const Figure* bare_figure(const Row& row, const Figure& figure) const;
};

}  // namespace iomux::compare
