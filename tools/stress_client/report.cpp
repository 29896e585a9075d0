#include "report.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace stress {
namespace {

constexpr ErrorKind kConnectKinds[] = {ErrorKind::connect_refused, ErrorKind::connect_timeout, ErrorKind::connect_error};

bool is_connect_kind(ErrorKind k) {
    return std::find(std::begin(kConnectKinds), std::end(kConnectKinds), k) != std::end(kConnectKinds);
}

// "3 reset by the server, 1 short reply"
std::string error_breakdown(const ErrorLog& errors, bool connect) {
    std::string out;
    for (ErrorKind k : kAllErrorKinds) {
        if (errors.count(k) == 0 || is_connect_kind(k) != connect) continue;
        if (!out.empty()) out += ", ";
        out += fmt::format("{} {}", errors.count(k), describe(k));
    }
    return out;
}

template <class... T>
void line_to(std::string& out, fmt::format_string<T...> format, T&&... args) {
    fmt::format_to(std::back_inserter(out), format, std::forward<T>(args)...);
    out += '\n';
}

double us(std::int64_t ns) { return static_cast<double>(ns) / 1e3; }

double per_conn_bytes(const ServerFigures& s, std::uint32_t conns) {
    if (conns == 0 || s.peak_rss_kib < s.start_rss_kib) return 0;
    return static_cast<double>(s.peak_rss_kib - s.start_rss_kib) * 1024.0 / conns;
}

}  // namespace

std::vector<std::string> Report::problems() const {
    std::vector<std::string> out = worker_failures;
    if (!run.abort_reason.empty()) out.push_back(run.abort_reason);
    if (run.conns_made < run.conns_requested)
        out.push_back(fmt::format("made only {} of {} connections: {}", run.conns_made, run.conns_requested,
                                  error_breakdown(run.errors, true)));
    if (const std::string e = error_breakdown(run.errors, false); !e.empty())
        out.push_back(fmt::format("connections failed: {}", e));
    if (run.deadline_passed)
        out.push_back(fmt::format("the deadline (--timeout {:g} s) passed before the run finished", timeout_s));
    if (run.messages_verified < run.messages_expected && run.conns_made > 0)
        out.push_back(fmt::format("{} of {} replies verified", run.messages_verified, run.messages_expected));
    if (server) {
        if (server->died_early) out.push_back(fmt::format("the echo server {} during the run", *server->died_early));
        else if (!server->exit_clean) out.push_back(fmt::format("the echo server {} when stopped", server->exit));
    }
    return out;
}

std::string format_table(const Report& r) {
    const RunResult& run = r.run;
    std::string out;
    auto line = [&out]<class... T>(fmt::format_string<T...> format, T&&... args) {
        line_to(out, format, std::forward<T>(args)...);
    };

    line("");
    line("stress_client: {} connection{} to {}:{} ({} mode, {}), client backend {}{}", run.conns_requested,
         run.conns_requested == 1 ? "" : "s", r.host, r.port, run.mode, run.protocol, r.backend,
         r.source_addrs ? fmt::format(", {} source addresses", r.source_addrs) : "");
    if (r.workers > 0 || r.threads > 1)
        line("{} worker process{}, {} thread{} each", std::max<std::uint32_t>(r.workers, 1), r.workers > 1 ? "es" : "",
             r.threads, r.threads == 1 ? "" : "s");
    if (r.server) line("server: {} (pid {})", r.server->command, r.server->pid);
    line("");
    const bool server_cpu = r.server && r.server->sampled;
    line("  {:<22} {:>10} {:>10} {:>10} {:>12}{}", "stage", "expected", "done", "wall s", "client CPU s",
         server_cpu ? fmt::format(" {:>12}", "server CPU s") : "");
    for (const StageResult& s : run.stages)
        line("  {:<22} {:>10} {:>10} {:>10.3f} {:>12.3f}{}", s.name, s.expected, s.done, s.wall_s, s.cpu_s,
             server_cpu && s.server_cpu_s ? fmt::format(" {:>12.3f}", *s.server_cpu_s) : "");
    line("  {:<22} {:>10} {:>10} {:>10.3f} {:>12.3f}{}", "total", "", "", run.wall_s, r.client_cpu.total(),
         server_cpu ? fmt::format(" {:>12.3f}", r.server->cpu.total()) : "");
    line("");
    if (run.mode != "hold")
        line("  {:<22} {} of {} ({} bytes sent, {} verified)", "replies verified", run.messages_verified,
             run.messages_expected, run.bytes_sent, run.bytes_verified);
    if (run.sustained && run.mode != "hold") {
        const SustainedFigures& s = *run.sustained;
        const bool echo = run.protocol == "echo";
        line("  {:<22} {:.0f} {}/s, {:.2f} MB/s of replies over {:.3f} s ({} active of {}, {}depth {}, {})", "throughput",
             s.msgs_per_s, echo ? "msgs" : "requests", s.mb_per_s, s.window_s, s.active, run.conns_requested,
             echo ? fmt::format("{}-byte messages, ", s.msg_size) : "", s.depth,
             s.rate > 0 ? fmt::format("open loop at {:g}/s", s.rate) : std::string("closed loop"));
        if (s.rate_backlog > 0)
            line("  {:<22} {} messages offered by --rate were never sent: every connection had --depth in flight",
                 "rate not met", s.rate_backlog);
    }
    const LatencyHistogram& h = run.latency;
    if (h.count() > 0)
        line("  {:<22} p50 {:.1f}  p99 {:.1f}  p99.9 {:.1f}  max {:.1f}  mean {:.1f}  ({} samples)", "round trip (us)",
             us(h.percentile(50)), us(h.percentile(99)), us(h.percentile(99.9)), us(h.max()), h.mean() / 1e3,
             h.count());
    if (const LatencyHistogram& c = run.connect_latency; c.count() > 0)
        line("  {:<22} p50 {:.1f}  p99 {:.1f}  p99.9 {:.1f}  max {:.1f}  ({} connects)", "connect (us)",
             us(c.percentile(50)), us(c.percentile(99)), us(c.percentile(99.9)), us(c.max()), c.count());
    if (!run.statuses.empty()) {
        std::string counts;
        for (const auto& [status, n] : run.statuses) counts += fmt::format("{}{}: {}", counts.empty() ? "" : ", ", status, n);
        line("  {:<22} {}", "HTTP statuses", counts);
    }
    if (run.reconnects > 0)
        line("  {:<22} {} (the server ended keep-alive connections; made again)", "reconnects", run.reconnects);
    line("  {:<22} {:.3f} s (user {:.3f}, sys {:.3f})", "client CPU", r.client_cpu.total(), r.client_cpu.user_s,
         r.client_cpu.sys_s);
    if (r.server && r.server->sampled) {
        const ServerFigures& s = *r.server;
        line("  {:<22} {:.3f} s (user {:.3f}, sys {:.3f})", "server CPU", s.cpu.total(), s.cpu.user_s, s.cpu.sys_s);
        line("  {:<22} {:.1f} MiB peak, {:.1f} MiB at start: {:.0f} bytes per connection", "server memory",
             static_cast<double>(s.peak_rss_kib) / 1024, static_cast<double>(s.start_rss_kib) / 1024,
             per_conn_bytes(s, run.conns_made));
    }
    if (run.errors.total() == 0) {
        line("  {:<22} none", "errors");
    } else {
        line("  {:<22} {}", "errors", run.errors.total());
        for (ErrorKind k : kAllErrorKinds)
            if (run.errors.count(k))
                line("    {:<20} {:>8}  first: {}", name(k), run.errors.count(k), run.errors.first(k));
    }
    line("");
    const auto problems = r.problems();
    if (problems.empty()) {
        line("PASS: every connection made, every reply verified");
    } else {
        line("FAIL: {}", problems.front());
        for (std::size_t i = 1; i < problems.size(); ++i) line("      {}", problems[i]);
    }
    return out;
}

std::string format_json(const Report& r) {
    using Json = nlohmann::ordered_json;  // the fields in the order a reader expects them
    const RunResult& run = r.run;
    const auto problems = r.problems();
    auto percentiles = [](const LatencyHistogram& h) {
        return Json{{"count", h.count()}, {"min", us(h.min())}, {"mean", h.mean() / 1e3}, {"p50", us(h.percentile(50))},
                    {"p90", us(h.percentile(90))}, {"p99", us(h.percentile(99))}, {"p999", us(h.percentile(99.9))},
                    {"max", us(h.max())}};
    };
    Json stages = Json::array();
    for (const StageResult& s : run.stages) {
        Json& stage = stages.emplace_back(
            Json{{"name", s.name}, {"expected", s.expected}, {"done", s.done}, {"wall_s", s.wall_s}, {"cpu_s", s.cpu_s}});
        if (s.server_cpu_s) stage["server_cpu_s"] = *s.server_cpu_s;
    }
    Json errors = Json::object(), first_errors = Json::object();
    for (ErrorKind k : kAllErrorKinds) {
        errors[std::string(name(k))] = run.errors.count(k);
        if (run.errors.count(k)) first_errors[std::string(name(k))] = run.errors.first(k);
    }
    Json sustained = nullptr;
    if (const auto& s = run.sustained)
        sustained = {{"active", s->active}, {"msg_size", s->msg_size}, {"depth", s->depth}, {"rate", s->rate},
                     {"window_s", s->window_s}, {"messages", s->messages}, {"msgs_per_s", s->msgs_per_s},
                     {"mb_per_s", s->mb_per_s}, {"rate_backlog", s->rate_backlog}};
    Json server = nullptr;
    if (const auto& s = r.server) {
        server = {{"pid", s->pid}, {"command", s->command}, {"backend", s->backend}};
        if (s->sampled)
            server.update({{"cpu_s", s->cpu.total()}, {"user_s", s->cpu.user_s}, {"sys_s", s->cpu.sys_s},
                           {"start_rss_kib", s->start_rss_kib}, {"peak_rss_kib", s->peak_rss_kib},
                           {"rss_per_conn_bytes", per_conn_bytes(*s, run.conns_made)}});
        server.update({{"exit", s->exit}, {"exit_clean", s->exit_clean}});
        if (s->died_early) server["died_early"] = *s->died_early;
    }
    const Json j = {
        {"tool", "stress_client"}, {"ok", problems.empty()}, {"mode", run.mode}, {"protocol", run.protocol}, {"host", r.host}, {"port", r.port},
        {"backend", r.backend}, {"source_addrs", r.source_addrs}, {"timeout_s", r.timeout_s}, {"threads", r.threads},
        {"workers", r.workers}, {"worker_failures", r.worker_failures}, {"conns_requested", run.conns_requested},
        {"conns_made", run.conns_made}, {"connect_attempts", run.connect_attempts},
        {"connect_wall_s", run.connect_wall_s}, {"wall_s", run.wall_s}, {"stages", stages},
        {"messages_expected", run.messages_expected}, {"messages_verified", run.messages_verified},
        {"all_verified", run.messages_verified == run.messages_expected && run.errors.total() == 0},
        {"bytes_sent", run.bytes_sent}, {"bytes_verified", run.bytes_verified},
        {"latency_us", percentiles(run.latency)}, {"connect_latency_us", percentiles(run.connect_latency)},
        {"reconnects", run.reconnects}, {"http_status", run.statuses},
        {"sustained", sustained}, {"errors_total", run.errors.total()}, {"errors", errors},
        {"first_errors", first_errors}, {"client_cpu_s", r.client_cpu.total()}, {"client_user_s", r.client_cpu.user_s},
        {"client_sys_s", r.client_cpu.sys_s},
        {"fd_limit", {{"needed", r.fd_limit.needed}, {"soft", r.fd_limit.soft}, {"hard", r.fd_limit.hard}}},
        {"server", server}, {"problems", problems},
    };
    return j.dump(2) + "\n";
}

}  // namespace stress
