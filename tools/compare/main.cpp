// iomux_compare: what select, poll and epoll cost on this machine, and what iomux costs on
// top of a bare epoll loop. See `iomux_compare --help` (options.cpp) and tools/compare/README.md.
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <system_error>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/fd_limit.hpp"
#include "formats.hpp"
#include "options.hpp"
#include "peers.hpp"
#include "load_plan.hpp"
#include "poller/poller.hpp"
#include "workloads.hpp"

namespace {

using namespace iomux::compare;

struct Chosen {
    std::vector<std::string> backends, peers;
    bool bare_uring = false;
};

// The backends this build has that the kernel also lets us create; a refused one (io_uring
// under kernel.io_uring_disabled or a seccomp filter) is a note with the reason, not a row.
std::vector<std::string> usable_backends(Report& report) {
    std::vector<std::string> usable;
    for (const std::string& name : iomux::backend_names()) {
        try {
            iomux::make_poller(name);
            usable.push_back(name);
        } catch (const std::system_error& e) {
            report.notes.push_back(fmt::format("backend '{}' skipped: {}", name, e.what()));
        }
    }
    return usable;
}

// Whether bare_uring_echo can run: built (liburing-dev), io_uring allowed by the kernel (the
// io_uring backend's probe above says why not), and Linux 6.0 for multishot recv.
bool bare_uring_usable(const std::vector<std::string>& usable, Report& report) {
#ifdef IOMUX_COMPARE_BARE_URING
    if (std::find(usable.begin(), usable.end(), "io_uring") == usable.end()) {
        report.notes.push_back(fmt::format("{} skipped: the kernel refuses io_uring (see the io_uring note)", kBareIoUring));
        return false;
    }
    utsname u{};
    int major = 0, minor = 0;
    if (::uname(&u) == 0 && std::sscanf(u.release, "%d.%d", &major, &minor) == 2 && major * 100 + minor < 600) {
        report.notes.push_back(fmt::format("{} skipped: multishot recv needs Linux 6.0, this is {}", kBareIoUring, u.release));
        return false;
    }
    return true;
#else
    (void)usable;
    (void)report;
    return false;  // built without liburing-dev
#endif
}

// --backends names iomux backends and peers alike; a name this build lacks is a note.
Chosen resolve_backends(const Options& o, Report& report) {
    const std::vector<std::string> built = usable_backends(report);
    std::vector<std::string> peers = peer_names();
    // asio's io_uring backend needs of the kernel what ours does.
    if (std::find(built.begin(), built.end(), "io_uring") == built.end()) std::erase(peers, "asio-io_uring");
    const bool bare_uring = bare_uring_usable(built, report);
    if (o.backends.empty()) return {built, o.peers ? peers : std::vector<std::string>{}, bare_uring};
    Chosen chosen{{}, {}, bare_uring};
    const auto has = [](const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); };
    for (const std::string& name : o.backends) {
        if (name == kBareEpoll || name == kBareIoUring) continue;  // always there unless --no-bare
        if (has(built, name)) {
            if (!has(chosen.backends, name)) chosen.backends.push_back(name);
        } else if (has(peers, name)) {
            if (o.peers && !has(chosen.peers, name)) chosen.peers.push_back(name);
        } else {
            std::vector<std::string> all = built;
            all.insert(all.end(), peers.begin(), peers.end());
            const std::string why = fmt::format("backend '{}' is not in this build (it has: {}); skipped", name, fmt::join(all, ", "));
            fmt::print(stderr, "iomux_compare: {}\n", why);
            report.notes.push_back(why);
        }
    }
    return chosen;
}

Params describe_machine() {
    Params m;
    utsname u{};
    if (::uname(&u) == 0) m.emplace_back("kernel", u.release);
    m.emplace_back("cpus", std::to_string(::sysconf(_SC_NPROCESSORS_ONLN)));
    m.emplace_back("nofile", std::to_string(iomux::tools::raise_fd_limit()));
    m.emplace_back("pinning", choose_placement().describe());
    m.emplace_back("compiler", __VERSION__);
    const auto peers = peer_names();
    m.emplace_back("peers", peers.empty() ? std::string("none built") : fmt::format("{}", fmt::join(peers, ",")));
    return m;
}

int run(int argc, char** argv) {
    Options options;
    if (const auto status = parse_options(argc, argv, options)) return *status;
    Report report;
    report.machine = describe_machine();
    if (options.default_run)
        report.notes.push_back("default run: a short comparison (dispatch with 5 rounds a run; echo as the open loop at 11000 "
                               "connections, 1 s a run; connect; instructions); `iomux_compare echo` adds the closed-loop "
                               "sweep and `iomux_compare all` runs every full sweep");
    Chosen chosen = resolve_backends(options, report);
    Context ctx{options, report, std::move(chosen.backends), std::move(chosen.peers), chosen.bare_uring};
    if (ctx.rows().empty()) {
        fmt::print(stderr, "iomux_compare: nothing to compare (no backend left, and --no-bare)\n");
        return 2;
    }
    if (options.dispatch) run_dispatch_workload(ctx);
    if (options.echo) run_echo_workload(ctx);
    if (options.connect) run_connect_workload(ctx);
    if (options.scaling) run_scaling_workload(ctx);
    if (options.instructions) run_instructions_workload(ctx);

    switch (options.format) {
        case Format::table: fmt::print("{}", format_table(report)); break;
        case Format::json: fmt::print("{}", format_json(report)); break;
        case Format::csv: fmt::print("{}", format_csv(report)); break;
    }
    std::fflush(stdout);
    if (options.plot) {
        fmt::print(stderr, "iomux_compare: {}\n", plot_dispatch(report, *options.plot));
    }
    return ctx.failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        fmt::print(stderr, "iomux_compare: {}\n", e.what());
        return 1;
    }
}
