// --csv: one line per (row, figure), ready for a spreadsheet.
#include <fmt/format.h>

#include "formats.hpp"

namespace iomux::compare {
namespace {

std::string field(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string out = "\"";
    for (const char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + '"';
}

}  // namespace

std::string format_csv(const Report& report) {
    std::string out = "workload,case,backend,figure,label,median,min,max,runs,ratio_to_bare\n";
    for (const Row& r : report.rows) {
        for (const Figure& f : r.figures) {
            const Summary s = f.summary();
            const auto ratio = report.ratio_to_bare(r, f);
            out += fmt::format("{},{},{},{},{},{},{},{},{},{}\n", field(r.workload), field(r.case_label()), field(r.backend),
                               field(f.name), field(f.label), s.median, s.min, s.max, f.samples.size(),
                               ratio ? fmt::format("{:.4f}", *ratio) : "");
        }
    }
    return out;
}

}  // namespace iomux::compare
