#include "result_codec.hpp"

#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

namespace stress {
namespace {

// Free text goes last on its line: a newline in it would start a new record.
std::string one_line(std::string_view text) {
    std::string s(text);
    for (char& c : s)
        if (c == '\n' || c == '\r') c = ' ';
    return s;
}

std::string rest_of(std::istringstream& in) {
    std::string rest;
    std::getline(in, rest);
    in.clear();  // an empty rest is not a malformed record
    if (!rest.empty() && rest.front() == ' ') rest.erase(0, 1);
    return rest;
}

}  // namespace

std::string encode(const WorkerReport& report) {
    const RunResult& r = report.run;
    std::string out;
    auto line = [&out]<class... T>(fmt::format_string<T...> format, T&&... args) {
        fmt::format_to(std::back_inserter(out), format, std::forward<T>(args)...);
        out += '\n';
    };
    line("mode {}", r.mode.empty() ? "-" : r.mode);
    line("conns {} {} {}", r.conns_requested, r.conns_made, r.connect_attempts);
    line("walls {:.17g} {:.17g}", r.connect_wall_s, r.wall_s);
    line("messages {} {}", r.messages_expected, r.messages_verified);
    line("bytes {} {}", r.bytes_sent, r.bytes_verified);
    line("deadline {}", r.deadline_passed ? 1 : 0);
    if (!r.abort_reason.empty()) line("abort {}", one_line(r.abort_reason));
    for (const StageResult& s : r.stages)
        line("stage {} {} {:.17g} {:.17g} {} {}", s.expected, s.done, s.wall_s, s.cpu_s,
             s.server_cpu_s ? fmt::format("{:.17g}", *s.server_cpu_s) : "-", one_line(s.name));
    for (std::size_t k = 0; k < kErrorKinds; ++k) {
        const ErrorKind kind = kAllErrorKinds[k];
        if (r.errors.count(kind)) line("error {} {} {}", k, r.errors.count(kind), one_line(r.errors.first(kind)));
    }
    const LatencyHistogram& h = r.latency;
    line("latency {} {} {:.17g}", h.min(), h.max(), h.sum());
    for (const auto& [bucket, count] : h.nonempty()) line("bucket {} {}", bucket, count);
    if (r.sustained) {
        const SustainedFigures& s = *r.sustained;
        line("sustained {} {} {} {:.17g} {:.17g} {} {:.17g} {:.17g} {}", s.active, s.msg_size, s.depth, s.rate,
             s.window_s, s.messages, s.msgs_per_s, s.mb_per_s, s.rate_backlog);
    }
    line("cpu {:.17g} {:.17g}", report.cpu.user_s, report.cpu.sys_s);
    if (!report.internal_error.empty()) line("internal {}", one_line(report.internal_error));
    line("end");
    return out;
}

WorkerReport decode(std::string_view text) {
    WorkerReport report;
    RunResult& r = report.run;
    std::vector<std::pair<std::size_t, std::uint64_t>> buckets;
    std::int64_t min = 0, max = 0;
    double sum = 0;
    bool ended = false;
    std::istringstream lines{std::string(text)};
    std::string raw;
    while (!ended && std::getline(lines, raw)) {
        std::istringstream in(raw);
        std::string tag;
        in >> tag;
        if (tag == "mode") {
            in >> r.mode;
            if (r.mode == "-") r.mode.clear();
        } else if (tag == "conns") {
            in >> r.conns_requested >> r.conns_made >> r.connect_attempts;
        } else if (tag == "walls") {
            in >> r.connect_wall_s >> r.wall_s;
        } else if (tag == "messages") {
            in >> r.messages_expected >> r.messages_verified;
        } else if (tag == "bytes") {
            in >> r.bytes_sent >> r.bytes_verified;
        } else if (tag == "deadline") {
            int d = 0;
            in >> d;
            r.deadline_passed = d != 0;
        } else if (tag == "abort") {
            r.abort_reason = rest_of(in);
        } else if (tag == "stage") {
            std::uint64_t expected = 0, done = 0;
            double wall = 0, cpu = 0;
            std::string server;
            in >> expected >> done >> wall >> cpu >> server;
            StageResult& s = r.stages.emplace_back(rest_of(in), expected, done, wall);
            s.cpu_s = cpu;
            if (server != "-") s.server_cpu_s = std::stod(server);
        } else if (tag == "error") {
            std::size_t k = kErrorKinds;
            std::uint64_t count = 0;
            in >> k >> count;
            if (k >= kErrorKinds) throw std::invalid_argument(fmt::format("bad error kind in '{}'", raw));
            const std::string first = rest_of(in);
            for (std::uint64_t i = 0; i < count; ++i) r.errors.add(kAllErrorKinds[k], [&] { return first; });
        } else if (tag == "latency") {
            in >> min >> max >> sum;
        } else if (tag == "bucket") {
            std::size_t bucket = 0;
            std::uint64_t count = 0;
            in >> bucket >> count;
            buckets.emplace_back(bucket, count);
        } else if (tag == "sustained") {
            SustainedFigures s;
            in >> s.active >> s.msg_size >> s.depth >> s.rate >> s.window_s >> s.messages >> s.msgs_per_s >>
                s.mb_per_s >> s.rate_backlog;
            r.sustained = s;
        } else if (tag == "cpu") {
            in >> report.cpu.user_s >> report.cpu.sys_s;
        } else if (tag == "internal") {
            report.internal_error = rest_of(in);
        } else if (tag == "end") {
            ended = true;
        } else {
            throw std::invalid_argument(fmt::format("unknown record '{}'", raw));
        }
        if (in.fail())
            throw std::invalid_argument(fmt::format("malformed record '{}'", raw));
    }
    if (!ended) throw std::invalid_argument("the report is cut short (no end line)");
    try {
        r.latency = LatencyHistogram::restore(buckets, min, max, sum);
    } catch (const std::out_of_range&) {
        throw std::invalid_argument("a latency bucket out of range");
    }
    return report;
}

}  // namespace stress
