#include "report.hpp"

#include <algorithm>

namespace iomux::compare {

Summary summarize(std::vector<double> samples) {
    if (samples.empty()) return {};
    std::sort(samples.begin(), samples.end());
    const std::size_t n = samples.size();
    const double median = n % 2 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2;
    return {median, samples.front(), samples.back()};
}

Figure& Row::figure(const std::string& name, const std::string& label, bool lower_is_better) {
    for (Figure& f : figures)
        if (f.name == name) return f;
    return figures.emplace_back(Figure{name, label, {}, lower_is_better});
}

const Figure* Row::find(std::string_view name) const {
    for (const Figure& f : figures)
        if (f.name == name) return &f;
    return nullptr;
}

std::optional<std::string> Row::param(std::string_view key) const {
    for (const auto& [k, v] : params)
        if (k == key) return v;
    return std::nullopt;
}

std::string Row::case_label() const {
    std::string label;
    for (const auto& [k, v] : params) {
        if (!label.empty()) label += ' ';
        label += k + '=' + v;
    }
    return label;
}

Row& Report::row(const std::string& workload, const Params& params, const std::string& backend) {
    for (Row& r : rows)
        if (r.workload == workload && r.params == params && r.backend == backend) return r;
    return rows.emplace_back(Row{workload, params, backend, {}});
}

const Row* Report::bare_for(const Row& row) const {
    for (const Row& r : rows)
        if (r.workload == row.workload && r.params == row.params && r.backend == kBareEpoll) return &r;
    return nullptr;
}

bool ranges_overlap(const Figure& a, const Figure& b) {
    if (a.samples.size() < 2 || b.samples.size() < 2) return false;
    const Summary x = a.summary(), y = b.summary();
    return x.min <= y.max && y.min <= x.max;
}

const Figure* Report::bare_figure(const Row& row, const Figure& figure) const {
    const Row* bare = bare_for(row);
    return bare ? bare->find(figure.name) : nullptr;
}

std::optional<double> Report::ratio_to_bare(const Row& row, const Figure& figure) const {
    const Figure* base = bare_figure(row, figure);
    if (!base || base->samples.empty() || figure.samples.empty()) return std::nullopt;
    const double denominator = base->summary().median;
    if (denominator == 0) return std::nullopt;
    return figure.summary().median / denominator;
}

}  // namespace iomux::compare
