// stress_client: many connections to a server (echo, request/expected reply, HTTP), every
// reply verified; `stress_client merge` merges saved results.
// See `stress_client --help`, and README.md beside this file for the benchmark.
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "common/fd_limit.hpp"
#include "common/process_stats.hpp"
#include "load_engine.hpp"
#include "local_run.hpp"
#include "merge.hpp"
#include "options.hpp"
#include "progress.hpp"
#include "reactor/reactor.hpp"
#include "report.hpp"
#include "server_process.hpp"
#include "worker_pool.hpp"

namespace {

using stress::Clock;
using stress::Options;

// A well-formed request this machine cannot satisfy (exit 2, like bad usage, but the usage
// text would not help: the message says what would).
struct Impossible : std::runtime_error {
    using std::runtime_error::runtime_error;
};

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

// Turns an exception that escaped a reactor callback into one line for the report (the
// first one wins), and stops that loop.
void record_callback_errors(iomux::Reactor& loop, std::string& first) {
    loop.set_exception_handler([&loop, &first](int fd, std::exception_ptr e) {
        if (first.empty()) first = fmt::format("internal error in a callback (fd {}): {}", fd, iomux::describe_exception(e));
        loop.stop();
    });
}

// The per-process fd budget: with --workers each process holds only its share. Refuses a
// worker count too small for the hard limit, and says how many it takes.
iomux::tools::FdLimit check_fd_limit(const Options& opt) {
    const std::uint32_t processes = std::max<std::uint32_t>(opt.workers, 1);
    const std::uint64_t share = (std::uint64_t{opt.conns} + processes - 1) / processes;
    const iomux::tools::FdLimit limit = iomux::tools::ensure_fd_limit(share + iomux::tools::kFdReserve);
    if (limit.enough()) return limit;
    const std::uint32_t needed = stress::WorkerPool::workers_needed(opt.conns, limit.hard, iomux::tools::kFdReserve);
    if (opt.workers > 0)
        throw Impossible(fmt::format(
            "--conns {} needs at least --workers {} here: one process may hold {} open files (the hard "
            "RLIMIT_NOFILE), {} of them for connections, and --workers {} would put {} in each",
            opt.conns, needed, limit.hard, limit.hard - iomux::tools::kFdReserve, opt.workers, share));
    throw Impossible(fmt::format("{}\nOr spread them over processes: --workers {} (or more).",
                                 iomux::tools::fd_limit_advice(limit, opt.conns), needed));
}

// A worker process's whole life after fork(): its share on its own reactor(s), reported.
stress::WorkerReport run_worker(const stress::RunPlan& plan) {
    stress::WorkerReport report;
    iomux::Reactor loop(plan.backend);
    record_callback_errors(loop, report.internal_error);
    stress::Progress quiet(loop, stress::Progress::Style::off);
    stress::LocalRun work(loop, plan, quiet);
    loop.add_signal_handler(SIGINT, [&] { work.interrupt(); });
    loop.add_signal_handler(SIGTERM, [&] { work.interrupt(); });
    report.run = work.run();
    report.cpu = work.cpu();
    if (report.internal_error.empty()) report.internal_error = work.internal_error();
    loop.remove_signal_handler(SIGINT);
    loop.remove_signal_handler(SIGTERM);
    return report;
}

// The parent of --workers: merges what they reported, names the ones that failed.
void merge_workers(const stress::WorkerPool& pool, stress::Report& report, std::string& internal_error) {
    for (const auto& o : pool.outcomes()) {
        if (o.report) {
            stress::add_part(report, *o.report, fmt::format("worker {}", o.share.index), &internal_error);
        } else {
            // Its connections count as requested and not made.
            report.run.conns_requested += o.share.conns;
        }
        if (!o.failure.empty())
            report.worker_failures.push_back(fmt::format("worker {} (pid {}, connections {}-{}) {}", o.share.index,
                                                         o.pid, o.share.first, o.share.first + o.share.conns - 1,
                                                         o.failure));
    }
}

int run(const Options& opt) {
    const Clock::time_point deadline = Clock::now() + opt.timeout;
    const std::string& backend = opt.backend;
    const iomux::tools::FdLimit fd_limit = check_fd_limit(opt);
    check_port_range(opt);

    // Started after the fd limit was raised: it inherits it.
    std::optional<stress::ServerProcess> server;
    if (!opt.spawn_backend.empty()) {
        std::vector<std::string> args{"--backend", opt.spawn_backend, "--port", "0"};
        args.insert(args.end(), opt.server_args.begin(), opt.server_args.end());
        server.emplace(opt.server_path.empty() ? stress::default_server_path() : opt.server_path, args, deadline);
    }
    const std::string host = server ? server->host() : opt.host;
    const std::uint16_t port = server ? server->port() : opt.port;

    stress::RunPlan plan;
    plan.backend = backend;
    plan.engine.server = stress::make_address(host, port);
    plan.engine.conns = opt.conns;
    plan.engine.source_addrs = opt.source_addrs;
    plan.engine.connect_window = opt.connect_window;
    plan.engine.connect_attempts = opt.connect_attempts;
    plan.engine.deadline = deadline;
    plan.engine.check_connect_at_once = !opt.connect_via_reactor;
    plan.engine.abortive_close = opt.abortive_close;
    plan.engine.connect_rate = opt.connect_rate;
    plan.engine.protocol = stress::protocol_spec(opt, host, port);
    plan.threads = opt.threads;
    if (opt.mode != Options::Mode::scenario) {
        plan.sustained = true;
        plan.engine.nodelay = true;  // several small messages in flight must not wait for ACKs
        plan.sustained_params.active = opt.active;
        plan.sustained_params.msg_size = opt.msg_size;
        plan.sustained_params.depth = opt.depth;
        plan.sustained_params.duration = std::chrono::duration_cast<Clock::duration>(opt.duration);
        plan.sustained_params.rate = opt.rate;
    }

    // Forked before this process has a reactor or a thread: each worker starts clean.
    std::optional<stress::WorkerPool> pool;
    if (opt.workers > 0)
        pool.emplace(opt.workers, opt.conns, [&plan, workers = opt.workers](const stress::WorkerPool::Share& share) {
            return run_worker(stress::share_of(plan, share.index, workers));
        });

    // Declared before the workload, so it outlives it (the workload removes its callbacks
    // from it when destroyed, on every path out of here).
    iomux::Reactor loop(backend);
    std::string internal_error;
    record_callback_errors(loop, internal_error);
    if (server) server->attach(loop);

    // A bar redraws itself from this loop, reading the workload's counters: one thread only.
    const bool lone_thread = opt.threads == 1 && !pool;
    const auto style = opt.json || !opt.progress || pool           ? stress::Progress::Style::off
                       : ::isatty(STDOUT_FILENO) && lone_thread ? stress::Progress::Style::bar
                                                                  : stress::Progress::Style::lines;
    stress::Progress progress(loop, style);
    if (server && !pool) plan.server_cpu = [pid = server->pid()] { return iomux::tools::tree_cpu_s(pid); };

    stress::Report report;
    report.host = host;
    report.port = port;
    report.backend = backend;
    report.source_addrs = opt.source_addrs;
    report.timeout_s = std::chrono::duration<double>(opt.timeout).count();
    report.fd_limit = fd_limit;
    report.threads = opt.threads;
    report.workers = opt.workers;

    // The server's whole tree: an echo_server with --workers holds its connections in children.
    const auto server_before = server ? iomux::tools::sample_tree(server->pid()) : std::nullopt;
    std::optional<stress::LocalRun> work;
    if (pool) {
        loop.add_signal_handler(SIGINT, [&] { pool->stop(); });
        loop.add_signal_handler(SIGTERM, [&] { pool->stop(); });
        // The workers keep the run's deadline themselves; this one is for a worker that
        // does not.
        pool->collect(loop, deadline + std::chrono::seconds(10));
        merge_workers(*pool, report, internal_error);
    } else {
        work.emplace(loop, plan, progress);
        loop.add_signal_handler(SIGINT, [&] { work->interrupt(); });
        loop.add_signal_handler(SIGTERM, [&] { work->interrupt(); });
        report.run = work->run();
        report.client_cpu = work->cpu();
        if (internal_error.empty()) internal_error = work->internal_error();
    }
    const auto server_after = server ? iomux::tools::sample_tree(server->pid()) : std::nullopt;

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
    pool.reset();
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
    if (!opt.result_file.empty()) {
        const auto& p = plan.sustained_params;
        stress::write_result(opt.result_file,
                             {report.run, report.client_cpu, internal_error,
                              fmt::format("{}, {}{}", report.run.mode, plan.engine.protocol.describe(),
                                          plan.sustained ? fmt::format(", msg_size {}, depth {}, duration {:g} s",
                                                                       p.msg_size, p.depth, stress::seconds(p.duration))
                                                         : ""),
                              host, port});
    }
    return problems.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    // A write to a connection the server reset must be an error we count, not our death:
    // MSG_NOSIGNAL covers send(), this covers anything else that writes to a socket.
    std::signal(SIGPIPE, SIG_IGN);
    const bool merge = argc > 1 && std::string_view(argv[1]) == "merge";
    Options opt;
    if (!merge)
        if (const auto status = stress::parse_options(argc, argv, opt)) return *status;
    try {
        return merge ? stress::run_merge(argc - 1, argv + 1) : run(opt);
    } catch (const Impossible& e) {
        fmt::print(stderr, "stress_client: {}\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        fmt::print(stderr, "stress_client: {}\n", e.what());
        return 1;
    }
}
