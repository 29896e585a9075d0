#include "report.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "json_writer.hpp"

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
    line("stress_client: {} connection{} to {}:{} ({} mode), client backend {}{}", run.conns_requested,
         run.conns_requested == 1 ? "" : "s", r.host, r.port, run.mode, r.backend,
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
    line("  {:<22} {} of {} ({} bytes sent, {} verified)", "replies verified", run.messages_verified,
         run.messages_expected, run.bytes_sent, run.bytes_verified);
    if (run.sustained) {
        const SustainedFigures& s = *run.sustained;
        line("  {:<22} {:.0f} msgs/s, {:.2f} MB/s over {:.3f} s ({} active of {}, {}-byte messages, depth {}, {})",
             "throughput", s.msgs_per_s, s.mb_per_s, s.window_s, s.active, run.conns_requested, s.msg_size, s.depth,
             s.rate > 0 ? fmt::format("open loop at {:g} msgs/s", s.rate) : std::string("closed loop"));
        if (s.rate_backlog > 0)
            line("  {:<22} {} messages offered by --rate were never sent: every connection had --depth in flight",
                 "rate not met", s.rate_backlog);
    }
    const LatencyHistogram& h = run.latency;
    if (h.count() > 0)
        line("  {:<22} p50 {:.1f}  p99 {:.1f}  p99.9 {:.1f}  max {:.1f}  mean {:.1f}  ({} samples)", "round trip (us)",
             us(h.percentile(50)), us(h.percentile(99)), us(h.percentile(99.9)), us(h.max()), h.mean() / 1e3,
             h.count());
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
    const RunResult& run = r.run;
    const auto problems = r.problems();
    JsonWriter j;
    j.begin_object();
    j.field("tool", "stress_client");
    j.field("ok", problems.empty());
    j.field("mode", run.mode);
    j.field("host", r.host);
    j.field("port", std::uint64_t{r.port});
    j.field("backend", r.backend);
    j.field("source_addrs", r.source_addrs);
    j.field("timeout_s", r.timeout_s);
    j.field("threads", r.threads);
    j.field("workers", r.workers);
    j.begin_array("worker_failures");
    for (const std::string& f : r.worker_failures) j.field("", f);
    j.end_array();
    j.field("conns_requested", run.conns_requested);
    j.field("conns_made", run.conns_made);
    j.field("connect_attempts", run.connect_attempts);
    j.field("connect_wall_s", run.connect_wall_s);
    j.field("wall_s", run.wall_s);
    j.begin_array("stages");
    for (const StageResult& s : run.stages) {
        j.begin_object();
        j.field("name", s.name).field("expected", s.expected).field("done", s.done).field("wall_s", s.wall_s).field("cpu_s", s.cpu_s);
        if (s.server_cpu_s) j.field("server_cpu_s", *s.server_cpu_s);
        j.end_object();
    }
    j.end_array();
    j.field("messages_expected", run.messages_expected);
    j.field("messages_verified", run.messages_verified);
    j.field("all_verified", run.messages_verified == run.messages_expected && run.errors.total() == 0);
    j.field("bytes_sent", run.bytes_sent);
    j.field("bytes_verified", run.bytes_verified);
    const LatencyHistogram& h = run.latency;
    j.begin_object("latency_us");
    j.field("count", h.count());
    j.field("min", us(h.min()));
    j.field("mean", h.mean() / 1e3);
    j.field("p50", us(h.percentile(50)));
    j.field("p90", us(h.percentile(90)));
    j.field("p99", us(h.percentile(99)));
    j.field("p999", us(h.percentile(99.9)));
    j.field("max", us(h.max()));
    j.end_object();
    if (run.sustained) {
        const SustainedFigures& s = *run.sustained;
        j.begin_object("sustained");
        j.field("active", s.active).field("msg_size", s.msg_size).field("depth", s.depth).field("rate", s.rate);
        j.field("window_s", s.window_s).field("messages", s.messages).field("msgs_per_s", s.msgs_per_s);
        j.field("mb_per_s", s.mb_per_s).field("rate_backlog", s.rate_backlog);
        j.end_object();
    } else {
        j.null_field("sustained");
    }
    j.field("errors_total", run.errors.total());
    j.begin_object("errors");
    for (ErrorKind k : kAllErrorKinds) j.field(name(k), run.errors.count(k));
    j.end_object();
    j.begin_object("first_errors");
    for (ErrorKind k : kAllErrorKinds)
        if (run.errors.count(k)) j.field(name(k), run.errors.first(k));
    j.end_object();
    j.field("client_cpu_s", r.client_cpu.total());
    j.field("client_user_s", r.client_cpu.user_s);
    j.field("client_sys_s", r.client_cpu.sys_s);
    j.begin_object("fd_limit");
    j.field("needed", r.fd_limit.needed).field("soft", r.fd_limit.soft).field("hard", r.fd_limit.hard);
    j.end_object();
    if (r.server) {
        const ServerFigures& s = *r.server;
        j.begin_object("server");
        j.field("pid", std::int64_t{s.pid}).field("command", s.command).field("backend", s.backend);
        if (s.sampled) {
            j.field("cpu_s", s.cpu.total()).field("user_s", s.cpu.user_s).field("sys_s", s.cpu.sys_s);
            j.field("start_rss_kib", s.start_rss_kib).field("peak_rss_kib", s.peak_rss_kib);
            j.field("rss_per_conn_bytes", per_conn_bytes(s, run.conns_made));
        }
        j.field("exit", s.exit).field("exit_clean", s.exit_clean);
        if (s.died_early) j.field("died_early", *s.died_early);
        j.end_object();
    } else {
        j.null_field("server");
    }
    j.begin_array("problems");
    for (const std::string& p : problems) {
        j.field("", p);
    }
    j.end_array();
    j.end_object();
    return j.str() + "\n";
}

}  // namespace stress
