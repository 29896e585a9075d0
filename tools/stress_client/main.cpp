// stress_client: many connections to an echo server, every echoed byte verified.
// See `stress_client --help`, and README.md beside this file for the benchmark.
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/fd_limit.hpp"
#include "common/process_stats.hpp"
#include "load_engine.hpp"
#include "options.hpp"
#include "poller/errors.hpp"
#include "poller/poller.hpp"
#include "progress.hpp"
#include "reactor/reactor.hpp"
#include "report.hpp"
#include "scenario.hpp"
#include "server_process.hpp"
#include "sustained.hpp"

namespace {

using stress::Clock;
using stress::Options;
using stress::UsageError;

// A well-formed request this machine cannot satisfy (exit 2, like bad usage, but the usage
// text would not help: the message says what would).
struct Impossible : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void check_backend(std::string_view flag, const std::string& name) {
    const auto names = iomux::backend_names();
    if (std::find(names.begin(), names.end(), name) == names.end())
        throw UsageError(fmt::format("{} {}: no such backend (this build has {})", flag, name, fmt::join(names, ", ")));
}

// More connections to one server address than ephemeral ports cannot work: fail up front
// with the way out, rather than with thousands of EADDRNOTAVAIL.
void check_port_range(const Options& opt) {
    std::ifstream f("/proc/sys/net/ipv4/ip_local_port_range");
    std::uint64_t lo = 0, hi = 0;
    if (!(f >> lo >> hi) || hi < lo) return;
    const std::uint64_t range = hi - lo + 1;
    const std::uint64_t addrs = std::max<std::uint64_t>(opt.source_addrs, 1);
    if (opt.conns <= range * addrs) return;
    throw Impossible(fmt::format(
        "{} connections to one server port from {} source address{} need {} ephemeral ports per address, but "
        "the range ({}-{}) has {}: use --source-addrs {} (or more)",
        opt.conns, addrs, addrs == 1 ? "" : "es", (opt.conns + addrs - 1) / addrs, lo, hi, range,
        (opt.conns + range - 1) / range));
}

int run(const Options& opt) {
    const Clock::time_point deadline = Clock::now() + opt.timeout;
    const std::string backend = opt.backend.empty() ? iomux::default_backend() : opt.backend;
    check_backend("--backend", backend);
    if (!opt.spawn_backend.empty()) check_backend("--spawn-server", opt.spawn_backend);
    const iomux::tools::FdLimit fd_limit = iomux::tools::ensure_fd_limit(opt.conns + iomux::tools::kFdReserve);
    if (!fd_limit.enough()) throw Impossible(iomux::tools::fd_limit_advice(fd_limit, opt.conns));
    check_port_range(opt);

    // Declared before the server and the workload, so it outlives both (they remove their
    // callbacks from it when destroyed, on every path out of here).
    iomux::Reactor loop(backend);

    // Started after the fd limit was raised: it inherits it.
    std::optional<stress::ServerProcess> server;
    if (!opt.spawn_backend.empty()) {
        std::vector<std::string> args{"--backend", opt.spawn_backend, "--port", "0"};
        args.insert(args.end(), opt.server_args.begin(), opt.server_args.end());
        server.emplace(opt.server_path.empty() ? stress::default_server_path() : opt.server_path, args, deadline);
    }
    const std::string host = server ? server->host() : opt.host;
    const std::uint16_t port = server ? server->port() : opt.port;
    sockaddr_in address;
    try {
        address = stress::make_address(host, port);
    } catch (const std::invalid_argument& e) {
        throw UsageError(fmt::format("--host: {}", e.what()));
    }

    std::string internal_error;
    loop.set_exception_handler([&](int fd, std::exception_ptr e) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            if (internal_error.empty()) internal_error = fmt::format("internal error in a callback (fd {}): {}", fd, ex.what());
        } catch (...) {
            if (internal_error.empty()) internal_error = "internal error: unknown exception in a callback";
        }
        loop.stop();
    });
    if (server) server->attach(loop);

    const auto style = opt.json || !opt.progress ? stress::Progress::Style::off
                       : ::isatty(STDOUT_FILENO) ? stress::Progress::Style::bar
                                                 : stress::Progress::Style::lines;
    stress::Progress progress(loop, style);

    stress::EngineConfig config;
    config.server = address;
    config.conns = opt.conns;
    config.source_addrs = opt.source_addrs;
    config.connect_window = opt.connect_window;
    config.connect_attempts = opt.connect_attempts;
    config.deadline = deadline;
    config.check_connect_at_once = !opt.connect_via_reactor;
    config.abortive_close = opt.abortive_close;
    stress::StageClock::Probe server_cpu;
    if (server) server_cpu = [pid = server->pid()] { return iomux::tools::precise_cpu_s(pid); };
    std::unique_ptr<stress::Workload> work;
    if (opt.mode == Options::Mode::sustained) {
        config.nodelay = true;  // several small messages in flight must not wait for ACKs
        stress::SustainedParams params;
        params.active = opt.active;
        params.msg_size = opt.msg_size;
        params.depth = opt.depth;
        params.duration = std::chrono::duration_cast<Clock::duration>(opt.duration);
        params.rate = opt.rate;
        work = std::make_unique<stress::Sustained>(loop, config, progress, params, server_cpu);
    } else {
        work = std::make_unique<stress::Scenario>(loop, config, progress, server_cpu);
    }
    loop.add_signal_handler(SIGINT, [&] { work->interrupt(); });
    loop.add_signal_handler(SIGTERM, [&] { work->interrupt(); });

    stress::Report report;
    report.host = host;
    report.port = port;
    report.backend = backend;
    report.source_addrs = opt.source_addrs;
    report.timeout_s = std::chrono::duration<double>(opt.timeout).count();
    report.fd_limit = fd_limit;

    const iomux::tools::CpuTimes cpu_before = iomux::tools::self_cpu();
    const auto server_before = server ? iomux::tools::sample_process(server->pid()) : std::nullopt;
    report.run = work->run();
    report.client_cpu = iomux::tools::self_cpu() - cpu_before;
    const auto server_after = server ? iomux::tools::sample_process(server->pid()) : std::nullopt;

    if (server) {
        stress::ServerFigures s;
        s.pid = server->pid();
        s.command = server->command_line();
        s.backend = opt.spawn_backend;
        s.died_early = server->exited();
        if (server_before && server_after && !s.died_early) {
            s.sampled = true;
            s.cpu = server_after->cpu - server_before->cpu;
            s.start_rss_kib = server->start_rss_kib();
            s.peak_rss_kib = server_after->peak_rss_kib;
        }
        report.server = s;
    }

    // Close our connections before stopping the server, so that it sees orderly ends of
    // stream rather than its own shutdown racing our FINs.
    loop.remove_signal_handler(SIGINT);
    loop.remove_signal_handler(SIGTERM);
    work.reset();
    if (server) {
        server->detach();
        const auto exit = server->stop();
        if (!report.server->died_early) {
            report.server->exit = exit.how;
            report.server->exit_clean = exit.clean;
        } else {
            report.server->exit = *report.server->died_early;
            report.server->exit_clean = false;
        }
    }

    auto problems = report.problems();
    if (!internal_error.empty()) problems.insert(problems.begin(), internal_error);
    if (opt.json) {
        fmt::print("{}", stress::format_json(report));
        for (const std::string& p : problems) fmt::print(stderr, "stress_client: FAIL: {}\n", p);
    } else {
        fmt::print("{}", stress::format_table(report));
        if (!internal_error.empty()) fmt::print("FAIL: {}\n", internal_error);
    }
    std::fflush(stdout);
    return problems.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    // A write to a connection the server reset must be an error we count, not our death:
    // MSG_NOSIGNAL covers send(), this covers anything else that writes to a socket.
    std::signal(SIGPIPE, SIG_IGN);
    Options opt;
    try {
        opt = stress::parse_options(std::span<const char* const>(argv + 1, static_cast<std::size_t>(argc > 0 ? argc - 1 : 0)));
        if (opt.help) {
            fmt::print("{}", stress::usage_text());
            return 0;
        }
        return run(opt);
    } catch (const UsageError& e) {
        fmt::print(stderr, "stress_client: {}\n\n{}", e.what(), stress::usage_text());
        return 2;
    } catch (const Impossible& e) {
        fmt::print(stderr, "stress_client: {}\n", e.what());
        return 2;
    } catch (const iomux::ValueError& e) {  // e.g. IOMUX_BACKEND naming no backend
        fmt::print(stderr, "stress_client: {}\n\n{}", e.what(), stress::usage_text());
        return 2;
    } catch (const std::exception& e) {
        fmt::print(stderr, "stress_client: {}\n", e.what());
        return 1;
    }
}
