#include "result_codec.hpp"

#include <optional>
#include <stdexcept>

#include <nlohmann/json.hpp>

// A stage's server CPU and a run's sustained figures are there or not: null when not.
template <class T>
struct nlohmann::adl_serializer<std::optional<T>> {
    static void to_json(json& j, const std::optional<T>& v) { j = v ? json(*v) : json(nullptr); }
    static void from_json(const json& j, std::optional<T>& v) {
        v = j.is_null() ? std::nullopt : std::optional<T>(j.get<T>());
    }
};

namespace iomux::tools {
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(CpuTimes, user_s, sys_s)
}  // namespace iomux::tools

namespace stress {

using Json = nlohmann::json;

void to_json(Json& j, const LatencyHistogram& h) {
    j = {{"buckets", h.nonempty()}, {"min", h.min()}, {"max", h.max()}, {"sum", h.sum()}};
}

void from_json(const Json& j, LatencyHistogram& h) {
    h = LatencyHistogram::restore(j.at("buckets"), j.at("min"), j.at("max"), j.at("sum"));
}

// Kind name -> [count, first message].
void to_json(Json& j, const ErrorLog& log) {
    j = Json::object();
    for (ErrorKind k : kAllErrorKinds)
        if (log.count(k)) j[std::string(name(k))] = {log.count(k), log.first(k)};
}

void from_json(const Json& j, ErrorLog& log) {
    for (ErrorKind k : kAllErrorKinds) {
        const auto e = j.find(std::string(name(k)));
        if (e == j.end()) continue;
        const std::string first = e->at(1);
        for (std::uint64_t n = e->at(0); n > 0; --n) log.add(k, [&] { return first; });
    }
}

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(StageResult, name, expected, done, wall_s, cpu_s, server_cpu_s)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SustainedFigures, active, msg_size, depth, rate, window_s, messages, msgs_per_s,
                                   mb_per_s, rate_backlog)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(RunResult, mode, protocol, conns_requested, conns_made, connect_attempts, connect_wall_s,
                                   wall_s, stages, messages_expected, messages_verified, bytes_sent, bytes_verified,
                                   latency, connect_latency, reconnects, statuses, errors, abort_reason,
                                   deadline_passed, sustained)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(WorkerReport, run, cpu, internal_error, scenario, host, port)

std::string encode(const WorkerReport& report) { return Json(report).dump(); }

WorkerReport decode(std::string_view text) {
    try {
        return Json::parse(text).get<WorkerReport>();
    } catch (const Json::exception& e) {
        throw std::invalid_argument(e.what());
    } catch (const std::out_of_range&) {
        throw std::invalid_argument("a latency bucket out of range");
    }
}

}  // namespace stress
