// --json: the whole report, every sample included, so other tools can redo the statistics.
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "formats.hpp"

namespace iomux::compare {
namespace {

std::string quote(std::string_view s) {
    std::string out = "\"";
    for (const char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
                else out += c;
        }
    }
    return out + '"';
}

// JSON has no NaN or infinity.
std::string number(double v) {
    return std::isfinite(v) ? fmt::format("{}", v) : "null";
}

// A parameter that is a plain number is written as one, so consumers need not parse it.
std::string param_value(const std::string& v) {
    char* end = nullptr;
    std::strtod(v.c_str(), &end);
    return !v.empty() && end == v.c_str() + v.size() ? v : quote(v);
}

std::string object_of(const Params& params) {
    std::string out = "{";
    for (const auto& [k, v] : params) out += fmt::format("{}{}: {}", out.size() > 1 ? ", " : "", quote(k), param_value(v));
    return out + '}';
}

}  // namespace

std::string format_json(const Report& report) {
    std::string out = "{\n  \"tool\": \"iomux_compare\",\n";
    out += fmt::format("  \"machine\": {},\n", object_of(report.machine));
    out += "  \"notes\": [";
    for (std::size_t i = 0; i < report.notes.size(); ++i) out += (i ? ", " : "") + quote(report.notes[i]);
    out += "],\n  \"rows\": [";
    for (std::size_t i = 0; i < report.rows.size(); ++i) {
        const Row& r = report.rows[i];
        out += fmt::format("{}\n    {{\"workload\": {}, \"backend\": {}, \"params\": {}, \"figures\": {{", i ? "," : "",
                           quote(r.workload), quote(r.backend), object_of(r.params));
        for (std::size_t j = 0; j < r.figures.size(); ++j) {
            const Figure& f = r.figures[j];
            const Summary s = f.summary();
            std::string samples;
            for (const double v : f.samples) samples += (samples.empty() ? "" : ", ") + number(v);
            const auto ratio = report.ratio_to_bare(r, f);
            out += fmt::format(
                "{}\n      {}: {{\"label\": {}, \"median\": {}, \"min\": {}, \"max\": {}, \"samples\": [{}], "
                "\"ratio_to_bare\": {}, \"lower_is_better\": {}}}",
                j ? "," : "", quote(f.name), quote(f.label), number(s.median), number(s.min), number(s.max), samples,
                ratio ? number(*ratio) : "null", f.lower_is_better);
        }
        out += "}}";
    }
    out += "\n  ]\n}\n";
    return out;
}

}  // namespace iomux::compare
