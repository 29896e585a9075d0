#include "options.hpp"

#include <fmt/format.h>

#include "common/cli.hpp"

namespace iomux::compare {
namespace {

// "all", "1%", "0.01": a fraction in (0, 1].
double share_of(std::string text) {
    double share = 0;
    try {
        std::size_t used = 0;
        const bool percent = !text.empty() && text.back() == '%';
        if (percent) text.pop_back();
        share = text == "all" ? 1.0 : std::stod(text, &used) / (percent ? 100.0 : 1.0);
        if (text != "all" && used != text.size()) share = 0;
    } catch (const std::exception&) {
    }
    if (!(share > 0 && share <= 1))
        throw CLI::ValidationError("--active-share", "a share is 'all', a percentage like 1%, or a fraction in (0, 1]");
    return share;
}

constexpr const char* kAbout = R"(Compares iomux's backends with each other and with a bare epoll loop written without any
abstraction (the practical limit). Every figure is also shown as a ratio to that bare row.
echo and connect add bare-io_uring, a bare io_uring completion server (multishot recv into a
buffer ring), where the build has liburing and the kernel allows it.

Workloads (none given: a short default comparison of dispatch, echo, connect and
instructions):
  dispatch   libevent's test/bench.c: N socket pairs, A chains of one byte, W passes per
             round; "loop" is the time per round, "total" adds re-adding every watcher
             as bench.c and muduo do (iomux: pause + resume, libev: stop + start)
  echo       examples/echo_server driven by tools/stress_client: closed loop over
             connections x active share, and an open loop at a fixed offered rate
  connect    the stress client's default scenario (the material's 11000 connections)
  scaling    the echo closed loop served by one loop, by N loops on threads
             (echo_server --threads N) and by N pre-forked workers (--workers N)
  instructions
             the dispatch workload under valgrind's callgrind: user-space
             instructions per event, split into the loop, the callback and libc's
             syscall wrappers; exact and repeatable (--n, default 1000)
  all        every workload above, with its full sweep)";

}  // namespace

std::optional<int> parse_options(int argc, const char* const* argv, Options& o) {
    CLI::App app(kAbout, "iomux_compare");
    iomux::tools::style_cli(app, "usage: iomux_compare [WORKLOAD...] [OPTIONS]",
                            "Exit status: 0 when every run worked, 1 when a run failed, 2 for bad usage.");
    const auto count = CLI::Range(std::size_t{1}, std::size_t{1'000'000'000});
    const auto list = [&](const char* name, std::vector<std::size_t>& into, const char* help, const char* group) {
        return app.add_option(name, into, help)->type_name("LIST")->delimiter(',')->check(count)->group(group);
    };
    std::vector<std::string> workloads;
    app.add_option("workload", workloads)->group("");

    const char* common = "Common options";
    app.add_option("--backends", o.backends,
                   "iomux backends and peer libraries to compare (default: every\n"
                   "one this build has; peers are libevent, libev, libuv, asio\n"
                   "and asio-io_uring (echo only) when built)")
        ->type_name("LIST")->delimiter(',')->group(common);
    app.add_flag_callback("--no-bare", [&] { o.bare = false; }, "leave out the bare rows (bare-epoll, bare-io_uring)")->group(common);
    app.add_flag_callback("--no-peers", [&] { o.peers = false; }, "leave out the peer libraries")->group(common);
    app.add_option("--repeat", o.repeat, "runs per backend, interleaved A B C, B C A, C A B ... (default 3)")
        ->type_name("N")->check(count)->group(common);
    auto* json = app.add_flag_callback("--json", [&] { o.format = Format::json; }, "JSON on stdout instead of the table")->group(common);
    app.add_flag_callback("--csv", [&] { o.format = Format::csv; }, "CSV on stdout instead of the table")
        ->group(common)->excludes(json);
    app.add_option("--plot", o.plot, "draw the dispatch scaling chart with gnuplot")->type_name("FILE.svg")->group(common)
        ->check([](const std::string& v) { return v.empty() ? std::string("needs a file name") : std::string(); });
    app.add_flag("--quiet", o.quiet, "no progress lines on stderr")->group(common);

    auto* pairs = list("--n", o.pairs, "socket pairs (default 100,1000,5000,9000; capped by RLIMIT_NOFILE)", "dispatch");
    app.add_option("--active", o.active, "chains in flight (default 100)")->type_name("N")->check(count)->group("dispatch");
    app.add_option("--writes", o.writes, "passes per round (default 1000)")->type_name("N")->check(count)->group("dispatch");
    auto* rounds = app.add_option("--rounds", o.rounds, "timed rounds per run; a run's figure is their median (default 25)")
                 ->type_name("N")->check(count)->group("dispatch");

    auto* conns = list("--conns", o.conns, "connections (default 100,1000,11000)", "echo");
    std::vector<std::string> shares;
    app.add_option("--active-share", shares, "share of them carrying traffic: all, 1%, 0.25 (default all,1%)")
        ->type_name("LIST")->delimiter(',')->group("echo");
    app.add_option("--msg-size", o.msg_size, "(default 64)")->type_name("BYTES")->check(count)->group("echo");
    app.add_option("--depth", o.depth, "messages in flight per connection (default 1)")->type_name("N")->check(count)->group("echo");
    auto* duration = app.add_option("--duration", o.duration, "load per run (default 2)")->type_name("SEC")
                         ->check(CLI::Range(0.1, 1e6))->group("echo");
    app.add_option("--rate", o.rate, "open-loop offered rate, 0 for none (default 30000)")->type_name("MSGS")
        ->check(CLI::Range(0.0, 1e9))->group("echo");
    app.add_option("--open-conns", o.open_conns, "connections of the open-loop row (default 11000)")->type_name("N")
        ->check(count)->group("echo");

    app.add_option("--connect-conns", o.connect_conns, "connections (default: the stress client's own, 11000)")
        ->type_name("N")->check(count)->group("connect");

    list("--scaling-conns", o.scaling_conns, "connections, all active (default 1000,11000)", "scaling");
    app.add_option("--loops", o.loops, "loops of the threads and workers rows (default 2)")->type_name("N")->check(count)->group("scaling");
    app.add_option("--client-threads", o.client_threads, "the stress client's own threads (default 2)")
        ->type_name("N")->check(count)->group("scaling");

    const char* programs = "Programs (default: beside this one in the build tree)";
    app.add_option("--echo-server", o.echo_server, "examples/echo_server")->type_name("PATH")->group(programs);
    app.add_option("--stress-client", o.stress_client, "tools/stress_client/stress_client")->type_name("PATH")->group(programs);
    app.add_option("--bare-echo", o.bare_echo, "tools/compare/bare_epoll_echo")->type_name("PATH")->group(programs);
    app.add_option("--bare-uring-echo", o.bare_uring_echo, "tools/compare/bare_uring_echo")->type_name("PATH")->group(programs);

    app.callback([&] {
        for (const std::string& w : workloads) {
            if (w != "dispatch" && w != "echo" && w != "connect" && w != "scaling" && w != "instructions" && w != "all")
                throw CLI::ValidationError(
                    fmt::format("unknown workload '{}' (dispatch, echo, connect, scaling, instructions, all)", w));
            o.dispatch |= w == "dispatch" || w == "all";
            o.echo |= w == "echo" || w == "all";
            o.connect |= w == "connect" || w == "all";
            o.scaling |= w == "scaling" || w == "all";
            o.instructions |= w == "instructions" || w == "all";
        }
        if (pairs->count()) o.instr_pairs = o.pairs;
        if (!shares.empty()) {
            o.shares.clear();
            for (const std::string& s : shares) o.shares.push_back(share_of(s));
        }
        if (app.count("--backends") && o.backends.empty()) throw CLI::ValidationError("--backends", "needs at least one name");
        if (!workloads.empty()) return;
        // The default run is the project's main job: every workload but scaling, trimmed to
        // about a minute and a half on a 2-core machine. Options given on the command line
        // still win.
        o.default_run = o.dispatch = o.echo = o.connect = o.instructions = true;
        if (!rounds->count()) o.rounds = 5;
        // echo: the open loop at a fixed rate only, the figure that separates the loops;
        // the closed-loop sweep is in `iomux_compare echo`.
        if (!conns->count()) o.conns = {};
        if (!duration->count()) o.duration = 1.0;
    });
    return iomux::tools::parse_cli(app, argc, argv);
}

}  // namespace iomux::compare
