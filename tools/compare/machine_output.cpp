// --json: the whole report, every sample included, so other tools can redo the statistics;
// --csv: one line per (row, figure), ready for a spreadsheet.
#include <cstdlib>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "formats.hpp"

namespace iomux::compare {
namespace {

using Json = nlohmann::ordered_json;

// A parameter that is a plain number is written as one, so consumers need not parse it.
Json object_of(const Params& params) {
    Json out = Json::object();
    for (const auto& [k, v] : params) {
        char* end = nullptr;
        const double number = std::strtod(v.c_str(), &end);
        out[k] = !v.empty() && end == v.c_str() + v.size() ? Json(number) : Json(v);
    }
    return out;
}

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string out = "\"";
    for (const char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + '"';
}

}  // namespace

std::string format_json(const Report& report) {
    Json rows = Json::array();
    for (const Row& r : report.rows) {
        Json figures = Json::object();
        for (const Figure& f : r.figures) {
            const Summary s = f.summary();
            const auto ratio = report.ratio_to_bare(r, f);
            const Figure* bare = report.bare_figure(r, f);
            figures[f.name] = {{"label", f.label}, {"median", s.median}, {"min", s.min}, {"max", s.max},
                               {"samples", f.samples}, {"ratio_to_bare", ratio ? Json(*ratio) : Json()},
                               {"overlaps_bare", bare && r.backend != kBareEpoll && ranges_overlap(f, *bare)},
                               {"lower_is_better", f.lower_is_better}};
        }
        rows.push_back({{"workload", r.workload}, {"backend", r.backend}, {"params", object_of(r.params)}, {"figures", figures}});
    }
    const Json out = {{"tool", "iomux_compare"}, {"machine", object_of(report.machine)}, {"notes", report.notes}, {"rows", rows}};
    return out.dump(2) + "\n";
}

std::string format_csv(const Report& report) {
    std::string out = "workload,case,backend,figure,label,median,min,max,runs,ratio_to_bare\n";
    for (const Row& r : report.rows) {
        for (const Figure& f : r.figures) {
            const Summary s = f.summary();
            const auto ratio = report.ratio_to_bare(r, f);
            out += fmt::format("{},{},{},{},{},{},{},{},{},{}\n", csv_field(r.workload), csv_field(r.case_label()), csv_field(r.backend),
                               csv_field(f.name), csv_field(f.label), s.median, s.min, s.max, f.samples.size(),
                               ratio ? fmt::format("{:.4f}", *ratio) : "");
        }
    }
    return out;
}

}  // namespace iomux::compare
