#include "options.hpp"

#include <charconv>
#include <cmath>
#include <functional>
#include <map>
#include <string_view>

#include <fmt/format.h>

namespace iomux::compare {
namespace {

std::size_t parse_count(const std::string& option, std::string_view text, std::size_t min = 1) {
    std::size_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < min)
        throw UsageError(fmt::format("{}: '{}' is not a whole number >= {}", option, text, min));
    return value;
}

double parse_real(const std::string& option, const std::string& text, double min) {
    std::size_t used = 0;
    double value = 0;
    try {
        value = std::stod(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used != text.size() || text.empty() || !std::isfinite(value) || value < min)
        throw UsageError(fmt::format("{}: '{}' is not a number >= {}", option, text, min));
    return value;
}

std::vector<std::string> split(std::string_view text) {
    std::vector<std::string> parts;
    while (true) {
        const auto comma = text.find(',');
        parts.emplace_back(text.substr(0, comma));
        if (comma == std::string_view::npos) return parts;
        text.remove_prefix(comma + 1);
    }
}

}  // namespace

std::vector<std::size_t> parse_count_list(const std::string& option, const std::string& text) {
    std::vector<std::size_t> values;
    for (const std::string& part : split(text)) values.push_back(parse_count(option, part));
    return values;
}

std::vector<double> parse_share_list(const std::string& option, const std::string& text) {
    std::vector<double> shares;
    for (std::string part : split(text)) {
        double share;
        if (part == "all") {
            share = 1.0;
        } else if (!part.empty() && part.back() == '%') {
            part.pop_back();
            share = parse_real(option, part, 0) / 100.0;
        } else {
            share = parse_real(option, part, 0);
        }
        if (share <= 0 || share > 1)
            throw UsageError(fmt::format("{}: a share is 'all', a percentage like 1%, or a fraction in (0, 1]", option));
        shares.push_back(share);
    }
    return shares;
}

std::string usage_text() {
    return R"(usage: iomux_compare [WORKLOAD...] [OPTIONS]

Compares iomux's backends with each other and with a bare epoll loop written without any
abstraction (the practical limit). Every figure is also shown as a ratio to that bare row.

Workloads (none given: a short default comparison of all three, about two minutes):
  dispatch   libevent's test/bench.c: N socket pairs, A chains of one byte, W passes per
             round; "loop" is the time per round, "total" adds re-adding every watcher
             as bench.c and muduo do (iomux: pause + resume, libev: stop + start)
  echo       examples/echo_server driven by tools/stress_client: closed loop over
             connections x active share, and an open loop at a fixed offered rate
  connect    the stress client's default scenario (the material's 11000 connections)
  scaling    the echo closed loop served by one loop, by N loops on threads
             (echo_server --threads N) and by N pre-forked workers (--workers N)
  all        all three, with their full sweeps

Common options:
  --backends LIST     iomux backends and peer libraries to compare (default: every
                      one this build has; peers are libevent, libev, libuv when built)
  --no-bare           leave out the bare-epoll row
  --no-peers          leave out the peer libraries
  --repeat N          runs per backend, interleaved A B C, B C A, C A B ... (default 3)
  --json | --csv      machine-readable output on stdout instead of the table
  --plot FILE.svg     draw the dispatch scaling chart with gnuplot
  --quiet             no progress lines on stderr
  -h, --help          this text

dispatch:
  --n LIST            socket pairs (default 100,1000,5000,9000; capped by RLIMIT_NOFILE)
  --active N          chains in flight (default 100)
  --writes N          passes per round (default 1000)
  --rounds N          timed rounds per run; a run's figure is their median (default 25)

echo:
  --conns LIST        connections (default 100,1000,11000)
  --active-share LIST share of them carrying traffic: all, 1%, 0.25 (default all,1%)
  --msg-size BYTES    (default 64)     --depth N   messages in flight per connection (1)
  --duration SEC      load per run (default 2)
  --rate MSGS         open-loop offered rate, 0 for none (default 30000)
  --open-conns N      connections of the open-loop row (default 11000)

connect:
  --connect-conns N   connections (default: the stress client's own, 11000)

scaling:
  --scaling-conns LIST  connections, all active (default 1000,11000)
  --loops N           loops of the threads and workers rows (default 2)
  --client-threads N  the stress client's own threads (default 2)

Programs (default: beside this one in the build tree):
  --echo-server PATH  --stress-client PATH  --bare-echo PATH

Exit status: 0 when every run worked, 1 when a run failed, 2 for bad usage.
)";
}

Options parse_options(int argc, char** argv) {
    Options o;
    using Setter = std::function<void(const std::string& name, const std::string& value)>;
    const std::map<std::string, Setter, std::less<>> with_value{
        {"--backends", [&](auto&, auto& v) { o.backends = split(v); }},
        {"--repeat", [&](auto& n, auto& v) { o.repeat = parse_count(n, v); }},
        {"--plot", [&](auto& n, auto& v) {
             if (v.empty()) throw UsageError(fmt::format("{} needs a file name", n));
             o.plot = v;
         }},
        {"--n", [&](auto& n, auto& v) { o.pairs = parse_count_list(n, v); }},
        {"--active", [&](auto& n, auto& v) { o.active = parse_count(n, v); }},
        {"--writes", [&](auto& n, auto& v) { o.writes = parse_count(n, v); }},
        {"--rounds", [&](auto& n, auto& v) { o.rounds = parse_count(n, v); }},
        {"--conns", [&](auto& n, auto& v) { o.conns = parse_count_list(n, v); }},
        {"--active-share", [&](auto& n, auto& v) { o.shares = parse_share_list(n, v); }},
        {"--msg-size", [&](auto& n, auto& v) { o.msg_size = parse_count(n, v); }},
        {"--depth", [&](auto& n, auto& v) { o.depth = parse_count(n, v); }},
        {"--duration", [&](auto& n, auto& v) { o.duration = parse_real(n, v, 0.1); }},
        {"--rate", [&](auto& n, auto& v) { o.rate = parse_real(n, v, 0); }},
        {"--open-conns", [&](auto& n, auto& v) { o.open_conns = parse_count(n, v); }},
        {"--connect-conns", [&](auto& n, auto& v) { o.connect_conns = parse_count(n, v); }},
        {"--scaling-conns", [&](auto& n, auto& v) { o.scaling_conns = parse_count_list(n, v); }},
        {"--loops", [&](auto& n, auto& v) { o.loops = parse_count(n, v); }},
        {"--client-threads", [&](auto& n, auto& v) { o.client_threads = parse_count(n, v); }},
        {"--echo-server", [&](auto&, auto& v) { o.echo_server = v; }},
        {"--stress-client", [&](auto&, auto& v) { o.stress_client = v; }},
        {"--bare-echo", [&](auto&, auto& v) { o.bare_echo = v; }},
    };
    const auto set_format = [&](Format f) {
        if (o.format != Format::table && o.format != f) throw UsageError("--json and --csv exclude each other");
        o.format = f;
    };
    const std::map<std::string, std::function<void()>, std::less<>> flags{
        {"--json", [&] { set_format(Format::json); }},
        {"--csv", [&] { set_format(Format::csv); }},
        {"--quiet", [&] { o.quiet = true; }},
        {"--no-bare", [&] { o.bare = false; }},
        {"--no-peers", [&] { o.peers = false; }},
        {"--help", [&] { o.help = true; }},
        {"-h", [&] { o.help = true; }},
    };

    bool any_workload = false;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg.rfind("-", 0) != 0) {
            if (arg == "dispatch") o.dispatch = true;
            else if (arg == "echo") o.echo = true;
            else if (arg == "connect") o.connect = true;
            else if (arg == "scaling") o.scaling = true;
            else if (arg == "all") o.dispatch = o.echo = o.connect = o.scaling = true;
            else throw UsageError(fmt::format("unknown workload '{}' (dispatch, echo, connect, scaling, all)", arg));
            any_workload = true;
            continue;
        }
        std::optional<std::string> inline_value;
        if (const auto eq = arg.find('='); eq != std::string::npos) {
            inline_value = arg.substr(eq + 1);
            arg.resize(eq);
        }
        if (const auto f = flags.find(arg); f != flags.end()) {
            if (inline_value) throw UsageError(fmt::format("{} takes no value", arg));
            f->second();
            o.given.insert(arg);
            continue;
        }
        const auto s = with_value.find(arg);
        if (s == with_value.end()) throw UsageError(fmt::format("unknown option '{}'", arg));
        if (!inline_value) {
            if (i + 1 >= argc) throw UsageError(fmt::format("{} needs a value", arg));
            inline_value = argv[++i];
        }
        s->second(arg, *inline_value);
        o.given.insert(arg);
    }
    if (!any_workload) {
        o.default_run = true;
        o.dispatch = o.echo = o.connect = true;
    }
    if (o.backends.empty() && o.given.count("--backends")) throw UsageError("--backends needs at least one name");
    return o;
}

}  // namespace iomux::compare
