#include "echo_bench.hpp"

#include <signal.h>

#include <chrono>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/child_process.hpp"
#include "common/process_stats.hpp"
#include "peers.hpp"
#include "report.hpp"

namespace iomux::compare {
namespace {

using Clock = std::chrono::steady_clock;
using tools::ChildProcess;
using tools::SpawnOptions;
using std::chrono::milliseconds;
using std::chrono::seconds;

// The last lines of a child's stderr: enough to say why it failed, short enough for a note.
std::string tail(const std::string& text, std::size_t max = 300) {
    std::string t = text;
    while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
    if (t.size() > max) t = "..." + t.substr(t.size() - max);
    for (char& c : t)
        if (c == '\n') c = ' ';
    return t;
}

class ServerUnderTest {
public:
    ServerUnderTest(const std::string& backend, const LoadSetup& setup, const std::vector<std::string>& extra_args = {})
        : process_(command(backend, setup, extra_args), SpawnOptions{setup.placement.server_cpu, true, false}),
          backend_(backend) {
        if (const auto port = process_.read_listening_port(seconds(10))) {
            port_ = *port;
            return;
        }
        const int status = process_.wait(milliseconds(500));
        throw RunError(fmt::format("{} server printed no 'listening on' line within 10 s (exit status {})", backend, status));
    }

    std::uint16_t port() const { return port_; }
    pid_t pid() const { return process_.pid(); }
    double cpu() const { return tools::tree_cpu_s(pid()).value_or(0); }
    double peak_rss_mib() const { return tools::peak_rss_mib(pid()).value_or(0); }

    // SIGTERM, as a user stops it; it must exit 0 on its own within 10 s.
    void stop() {
        process_.signal(SIGTERM);
        const int status = process_.wait(seconds(10));
        if (status != 0) throw RunError(fmt::format("{} server exited with status {} after SIGTERM", backend_, status));
    }

private:
    static std::vector<std::string> command(const std::string& backend, const LoadSetup& setup,
                                            const std::vector<std::string>& extra_args) {
        std::vector<std::string> argv{setup.server_for(backend), "--port", "0"};
        if (backend != kBareEpoll && backend != kBareIoUring && !is_peer(backend)) argv.insert(argv.end(), {"--backend", backend});
        argv.insert(argv.end(), extra_args.begin(), extra_args.end());
        return argv;
    }

    ChildProcess process_;
    std::string backend_;
    std::uint16_t port_ = 0;
};

struct CpuSample {
    double t, cpu;  // seconds since the client started; server CPU seconds
};

// Server CPU at time t, interpolated between the samples around it.
double cpu_at(const std::vector<CpuSample>& samples, double t) {
    if (samples.empty()) return 0;
    if (t <= samples.front().t) return samples.front().cpu;
    for (std::size_t i = 1; i < samples.size(); ++i) {
        if (t <= samples[i].t) {
            const CpuSample& a = samples[i - 1];
            const CpuSample& b = samples[i];
            return b.t == a.t ? b.cpu : a.cpu + (b.cpu - a.cpu) * (t - a.t) / (b.t - a.t);
        }
    }
    return samples.back().cpu;
}

struct ClientOutcome {
    nlohmann::json json;
    double server_cpu_s = 0;
    double server_peak_rss_mib = 0;
    std::vector<CpuSample> samples;
};

ClientOutcome drive(ServerUnderTest& server, std::vector<std::string> args, double expected_s, const LoadSetup& setup) {
    std::vector<std::string> argv{setup.stress_client, "--host", "127.0.0.1", "--port", std::to_string(server.port()),
                                  "--backend", setup.client_backend, "--json", "--no-progress"};
    argv.insert(argv.end(), args.begin(), args.end());

    ClientOutcome outcome;
    const double cpu_before = server.cpu();
    const auto start = Clock::now();
    ChildProcess client(argv, SpawnOptions{setup.placement.load_cpu, true, true});
    const auto sample = [&] {
        // schedstat's nanoseconds over every thread and worker, not stat's 10 ms ticks.
        if (const auto c = tools::tree_cpu_s(server.pid()))
            outcome.samples.push_back({std::chrono::duration<double>(Clock::now() - start).count(), *c});
    };
    sample();
    // The client bounds itself (--timeout); this only guards against a client that hangs anyway.
    const auto limit = milliseconds(static_cast<long long>((expected_s + 120) * 1000));
    const auto output = client.collect(limit, milliseconds(20), sample);
    sample();
    const int status = client.wait(seconds(5));
    outcome.server_cpu_s = server.cpu() - cpu_before;
    outcome.server_peak_rss_mib = server.peak_rss_mib();
    if (output.timed_out) throw RunError(fmt::format("stress_client did not finish within {} s", limit.count() / 1000));
    outcome.json = nlohmann::json::parse(output.out, nullptr, false);
    if (!outcome.json.is_object())
        throw RunError(fmt::format("stress_client exited {} without a JSON report: {}", status, tail(output.err)));
    if (status != 0) {
        std::string problems;
        for (const auto& p : outcome.json.value("problems", nlohmann::json::array()))
            problems += (problems.empty() ? "" : "; ") + p.get<std::string>();
        throw RunError(fmt::format("stress_client exited {}: {}", status, tail(problems.empty() ? output.err : problems)));
    }
    return outcome;
}

double number_at(const nlohmann::json& json, const std::string& pointer) {
    const nlohmann::json v = json.value(nlohmann::json::json_pointer(pointer), nlohmann::json());
    if (!v.is_number()) throw RunError(fmt::format("stress_client's JSON has no number at '{}'", pointer));
    return v.get<double>();
}

}  // namespace

EchoRun run_echo(const std::string& backend, const EchoCase& c, const LoadSetup& setup) {
    ServerUnderTest server(backend, setup, c.server_args);
    std::vector<std::string> args{"--mode", "sustained", "--conns", std::to_string(c.conns),
                                  "--active", std::to_string(c.active), "--msg-size", std::to_string(c.msg_size),
                                  "--depth", std::to_string(c.depth), "--duration", fmt::format("{}", c.duration_s)};
    if (c.rate > 0) {
        args.emplace_back("--rate");
        args.push_back(fmt::format("{}", c.rate));
    }
    args.insert(args.end(), c.client_args.begin(), c.client_args.end());
    const ClientOutcome out = drive(server, args, c.duration_s, setup);
    server.stop();

    EchoRun r;
    r.msgs_per_s = number_at(out.json, "/sustained/msgs_per_s");
    r.p99_us = number_at(out.json, "/latency_us/p99");
    r.window_s = number_at(out.json, "/sustained/window_s");
    r.server_cpu_s = out.server_cpu_s;
    r.server_peak_rss_mib = out.server_peak_rss_mib;
    // The traffic window starts when the last connection is made: after connect_wall_s of
    // the client's run. Its start-up before that clock starts is a few ms, well under the
    // 20 ms sampling step.
    const double from = number_at(out.json, "/connect_wall_s");
    r.server_window_cpu_s = cpu_at(out.samples, from + r.window_s) - cpu_at(out.samples, from);
    return r;
}

ConnectRun run_connect(const std::string& backend, std::optional<std::size_t> conns, const LoadSetup& setup) {
    ServerUnderTest server(backend, setup);
    std::vector<std::string> args;
    if (conns) args = {"--conns", std::to_string(*conns)};
    const ClientOutcome out = drive(server, args, 60, setup);
    server.stop();
    ConnectRun r;
    r.wall_s = number_at(out.json, "/wall_s");
    r.connect_wall_s = number_at(out.json, "/connect_wall_s");
    r.server_cpu_s = out.server_cpu_s;
    r.server_peak_rss_mib = out.server_peak_rss_mib;
    return r;
}

}  // namespace iomux::compare
