#include "merge.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "common/cli.hpp"

namespace stress {

void add_part(Report& report, const WorkerReport& part, const std::string& who, std::string* internal_error) {
    merge_into(report.run, part.run);
    report.client_cpu.user_s += part.cpu.user_s;
    report.client_cpu.sys_s += part.cpu.sys_s;
    if (internal_error->empty() && !part.internal_error.empty())
        *internal_error = fmt::format("{}: {}", who, part.internal_error);
}

void write_result(const std::string& path, const WorkerReport& result) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << encode(result) << '\n';
    if (!f.flush()) throw std::runtime_error(fmt::format("cannot write the result to {}", path));
}

int run_merge(int argc, const char* const* argv) {
    CLI::App app("Merges the results of separate runs (--result-file) into one report, as --workers merges\n"
                 "its processes: counts and histograms add up, stage walls are the longest, CPU is summed.",
                 "stress_client merge");
    iomux::tools::style_cli(app, "usage: stress_client merge [--json] [--result-file OUT] FILE...",
                            "Exit status: 0 when the merged run passed, 1 when it failed, 2 for bad usage\n"
                            "or files that are unreadable or from different scenarios.");
    std::vector<std::string> files;
    std::string out;
    bool json = false;
    app.add_option("files", files, "results written by --result-file")->required()->check(CLI::ExistingFile);
    app.add_flag("--json", json, "print the merged report as one JSON object");
    app.add_option("--result-file", out, "also write the merged result, to merge again")->type_name("FILE");
    if (const auto status = iomux::tools::parse_cli(app, argc, argv)) return *status;

    Report report;
    WorkerReport merged;
    std::string internal_error;
    for (const std::string& file : files) {
        std::ifstream f(file, std::ios::binary);
        std::ostringstream text;
        text << f.rdbuf();
        WorkerReport part;
        try {
            part = decode(text.str());
        } catch (const std::invalid_argument& e) {
            fmt::print(stderr, "stress_client merge: {} is not a stress_client result: {}\n", file, e.what());
            return 2;
        }
        if (&file == &files.front()) {
            merged.scenario = part.scenario, merged.host = part.host, merged.port = part.port;
        } else if (part.scenario != merged.scenario) {
            fmt::print(stderr, "stress_client merge: {} is of another scenario: {:?}, not {:?} as {}\n", file,
                       part.scenario, merged.scenario, files.front());
            return 2;
        }
        add_part(report, part, file, &internal_error);
    }
    report.host = merged.host;
    report.port = merged.port;
    report.backend = "merged";
    report.workers = static_cast<std::uint32_t>(files.size());
    merged.run = report.run;
    merged.cpu = report.client_cpu;
    merged.internal_error = internal_error;
    if (!out.empty()) write_result(out, merged);
    auto problems = report.problems();
    if (!internal_error.empty()) problems.insert(problems.begin(), internal_error);
    fmt::print("{}", json ? format_json(report) : format_table(report));
    return problems.empty() ? 0 : 1;
}

}  // namespace stress
