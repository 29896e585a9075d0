// The aligned table: one block per workload case, one line per backend, each figure as
// "median [min-max]" followed by its ratio to the bare-epoll line.
#include <algorithm>
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "formats.hpp"

namespace iomux::compare {
namespace {

// A figure's value with as many digits as it deserves.
std::string format_number(double value) {
    const double a = std::fabs(value);
    if (a >= 100 || a == 0) return fmt::format("{:.0f}", value);
    if (a >= 10) return fmt::format("{:.1f}", value);
    if (a >= 1) return fmt::format("{:.2f}", value);
    return fmt::format("{:.3f}", value);
}

std::string cell(const Figure& f) {
    const Summary s = f.summary();
    if (f.samples.size() < 2) return format_number(s.median);
    return fmt::format("{} [{}-{}]", format_number(s.median), format_number(s.min), format_number(s.max));
}

struct Block {
    const Row* first;
    std::vector<const Row*> rows;
};

// Per column, the rows whose min-max ranges chain together when sorted by median: what the
// reader must not rank.
std::string ties(const std::vector<const Row*>& rows, const std::vector<std::pair<std::string, std::string>>& columns) {
    std::string out;
    for (const auto& [name, label] : columns) {
        std::vector<const Figure*> figures;
        for (const Row* r : rows)
            if (const Figure* f = r->find(name); f && f->samples.size() > 1) figures.push_back(f);
        std::sort(figures.begin(), figures.end(), [](auto* a, auto* b) { return a->summary().median < b->summary().median; });
        std::string groups;
        for (std::size_t i = 0; i < figures.size();) {
            std::size_t j = i + 1;
            while (j < figures.size() && ranges_overlap(*figures[j - 1], *figures[j])) ++j;
            if (j - i > 1) {
                std::string group;
                for (std::size_t k = i; k < j; ++k)
                    for (const Row* r : rows)
                        if (r->find(name) == figures[k]) group += (group.empty() ? "" : " = ") + r->backend;
                groups += (groups.empty() ? "" : "; ") + group;
            }
            i = j;
        }
        if (!groups.empty()) out += fmt::format("  {}: min-max ranges overlap, each with the next: {}\n", label, groups);
    }
    return out;
}

}  // namespace

std::string format_table(const Report& report) {
    std::string out;
    if (!report.machine.empty()) {
        std::string machine;
        for (const auto& [k, v] : report.machine) machine += fmt::format("{}{}: {}", machine.empty() ? "" : ", ", k, v);
        out += fmt::format("machine: {}\n", machine);
    }
    std::size_t max_runs = 0;
    for (const Row& r : report.rows)
        for (const Figure& f : r.figures) max_runs = std::max(max_runs, f.samples.size());
    if (max_runs > 1)
        out += fmt::format("figures: median of {} runs [min-max]; x bare: median / the bare-epoll median, marked ~ when\n"
                           "the two rows' min-max ranges overlap: those runs cannot tell the two apart\n", max_runs);

    // Blocks in order of first appearance, each holding its rows in order.
    std::vector<Block> blocks;
    for (const Row& r : report.rows) {
        auto it = std::find_if(blocks.begin(), blocks.end(), [&](const Block& b) {
            return b.first->workload == r.workload && b.first->params == r.params;
        });
        if (it == blocks.end()) blocks.push_back({&r, {&r}});
        else it->rows.push_back(&r);
    }

    for (const Block& b : blocks) {
        // Columns: the union of the block's figures, in order of first appearance.
        std::vector<std::pair<std::string, std::string>> columns;  // name, label
        for (const Row* r : b.rows)
            for (const Figure& f : r->figures)
                if (std::none_of(columns.begin(), columns.end(), [&](const auto& c) { return c.first == f.name; }))
                    columns.emplace_back(f.name, f.label);
        const bool has_bare = report.bare_for(*b.first) != nullptr;

        std::vector<std::vector<std::string>> grid;
        std::vector<std::string> heading{"backend"};
        for (const auto& [name, label] : columns) {
            heading.push_back(label);
            if (has_bare) heading.push_back("x bare");
        }
        grid.push_back(heading);
        for (const Row* r : b.rows) {
            std::vector<std::string> line{r->backend};
            for (const auto& [name, label] : columns) {
                const Figure* f = r->find(name);
                line.push_back(f && !f->samples.empty() ? cell(*f) : "-");
                if (!has_bare) continue;
                const auto ratio = f ? report.ratio_to_bare(*r, *f) : std::nullopt;
                const Figure* bare = f ? report.bare_figure(*r, *f) : nullptr;
                const bool tie = bare && r->backend != kBareEpoll && ranges_overlap(*f, *bare);
                line.push_back(ratio ? fmt::format("{:.2f}{}", *ratio, tie ? "~" : "") : "-");
            }
            grid.push_back(std::move(line));
        }
        std::vector<std::size_t> width(heading.size(), 0);
        for (const auto& line : grid)
            for (std::size_t i = 0; i < line.size(); ++i) width[i] = std::max(width[i], line[i].size());

        out += fmt::format("\n{}  {}\n", b.first->workload, b.first->case_label());
        for (const auto& line : grid) {
            std::string text = "  ";
            for (std::size_t i = 0; i < line.size(); ++i) {
                // Names left-aligned, figures right-aligned so that digits line up.
                text += i == 0 ? fmt::format("{:<{}}", line[i], width[i]) : fmt::format("  {:>{}}", line[i], width[i]);
            }
            out += text + '\n';
        }
        out += ties(b.rows, columns);
    }
    if (!report.notes.empty()) {
        out += "\nnotes:\n";
        for (const std::string& n : report.notes) out += fmt::format("  - {}\n", n);
    }
    return out;
}

}  // namespace iomux::compare
