#include "options.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/cli.hpp"
#include "load_engine.hpp"
#include "poller/errors.hpp"
#include "poller/poller.hpp"

namespace stress {
namespace {

using std::chrono::duration_cast;
using std::chrono::nanoseconds;
using Seconds = std::chrono::duration<double>;

std::string ipv4(const std::string& host) {
    try {
        make_address(host, 1);
        return {};
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
}

// The reason a parsed command line cannot run, or empty.
std::string inconsistency(const CLI::App& app, Options& o, bool sustained_given, double timeout_s, double duration_s) {
    if (o.mode == Options::Mode::scenario && sustained_given && app.count("--mode"))
        return "--duration, --active, --msg-size, --depth and --rate belong to --mode sustained";
    if (sustained_given) o.mode = Options::Mode::sustained;
    if (o.mode == Options::Mode::sustained) {
        if (!app.count("--active")) o.active = o.conns;
        if (o.active > o.conns) return fmt::format("--active {} is more than --conns {}", o.active, o.conns);
    }
    o.duration = duration_cast<nanoseconds>(Seconds(duration_s));
    if (app.count("--timeout") && o.mode == Options::Mode::sustained && timeout_s <= duration_s)
        return "--timeout must be longer than --duration (it bounds connecting, traffic and the drain)";
    const double default_timeout = o.mode == Options::Mode::sustained ? duration_s + 60 : 60;
    o.timeout = duration_cast<nanoseconds>(Seconds(app.count("--timeout") ? timeout_s : default_timeout));
    if (o.threads > o.conns) return fmt::format("--threads {} is more than --conns {}", o.threads, o.conns);
    if (o.workers > o.conns) return fmt::format("--workers {} is more than --conns {}", o.workers, o.conns);
    if (std::uint64_t{o.threads} * std::max<std::uint32_t>(o.workers, 1) > o.conns)
        return fmt::format("--threads {} in each of --workers {} is more threads than --conns {}", o.threads,
                           o.workers, o.conns);
    if (!o.spawn_backend.empty() && app.count("--port"))
        return "--port and --spawn-server exclude each other: the spawned server picks its own port";
    if (o.spawn_backend.empty() && (!o.server_path.empty() || !o.server_args.empty()))
        return "--server-path and --server-arg go with --spawn-server";
    if (o.backend.empty()) {
        try {
            o.backend = iomux::default_backend();
        } catch (const iomux::ValueError& e) {
            return fmt::format("$IOMUX_BACKEND: {}", e.what());
        }
    }
    return {};
}

}  // namespace

std::optional<int> parse_options(int argc, const char* const* argv, Options& o) {
    CLI::App app(R"(Opens many TCP connections to an echo server and verifies every byte it echoes.

Default: the material's scenario. Connect --conns connections, then for each of three
messages ("This is the message. ", "It will be sent ", "in parts.") send it on every
connection and wait for every full reply.)",
                 "stress_client");
    iomux::tools::style_cli(app, "usage: stress_client [options]", R"(Exit status: 0 when every connection was made and every reply verified, 1 when anything
failed, 2 for bad usage (or a request this machine cannot satisfy, such as more
connections than the open-file limit allows).)");
    const std::vector<std::string> backends = iomux::backend_names();
    const CLI::IsMember backend_check(backends);
    double timeout_s = 0, duration_s = 5;
    bool no_progress = false;
    std::string mode = "scenario";

    app.add_option("--host", o.host, "server IPv4 address (default 127.0.0.1)")->type_name("ADDR")->check(ipv4);
    app.add_option("--port", o.port, "server port (default 9999, the material's)")->type_name("N")->check(CLI::Range(1, 65535));
    app.add_option("--conns", o.conns, "connections (default 11000)")->type_name("N")->check(CLI::Range(1, 10'000'000));
    app.add_option("--backend", o.backend,
                   fmt::format("this client's event loop: {}\n(default $IOMUX_BACKEND, else epoll)", fmt::join(backends, ", ")))
        ->type_name("NAME")->check(backend_check);
    app.add_option("--source-addrs", o.source_addrs,
                   "spread connections over source addresses 127.0.0.1..127.0.0.K,\n"
                   "for more connections than one address has ephemeral ports")
        ->type_name("K")->check(CLI::Range(1, 254));
    app.add_option("--connect-window", o.connect_window, "connects in flight at once (default 512)")
        ->type_name("N")->check(CLI::Range(1, 1'000'000));
    app.add_option("--connect-attempts", o.connect_attempts, "tries per connection when refused or reset (default 8)")
        ->type_name("N")->check(CLI::Range(1, 100));
    app.add_flag("--connect-via-reactor", o.connect_via_reactor,
                 "wait for writability after every connect, even when the\n"
                 "handshake completed inside connect() (as on loopback)");
    app.add_flag("--abortive-close", o.abortive_close,
                 "end the connections with RST rather than FIN: no TIME_WAIT\n"
                 "left behind, which otherwise makes a next run against the\n"
                 "same server port within a minute pay more per connect");
    app.add_option("--timeout", timeout_s, "everything must be done by then (default 60; sustained mode:\n--duration + 60)")
        ->type_name("SECONDS")->check(CLI::Range(1e-9, 86400.0));
    app.add_option("--threads", o.threads,
                   "N reactors on N threads, the connections split among them;\n"
                   "in the scenario all threads finish a message before any\n"
                   "sends the next (default 1)")
        ->type_name("N")->check(CLI::Range(1, 256));
    app.add_option("--workers", o.workers,
                   "N worker processes, each with its share of the connections\n"
                   "and its own open-file limit (one process may hold only so\n"
                   "many fds: more connections need more workers; the tool says\n"
                   "how many); the parent merges their results")
        ->type_name("N")->check(CLI::Range(1, 256));

    const std::string sustained = "Sustained mode (--mode sustained, or any of these options)";
    app.add_option("--mode", mode, "scenario or sustained")->type_name("MODE")->group(sustained)
        ->check(CLI::IsMember({"scenario", "sustained"}));
    std::vector<CLI::Option*> traffic = {
        app.add_option("--duration", duration_s, "how long to offer traffic (default 5)")->type_name("SECONDS")
            ->check(CLI::Range(1e-9, 3600.0)),
        app.add_option("--active", o.active, "connections that carry traffic; the rest stay idle (default all)")
            ->type_name("N")->check(CLI::Range(1, 10'000'000)),
        app.add_option("--msg-size", o.msg_size, "message size (default 64)")->type_name("BYTES")->check(CLI::Range(1, 16 << 20)),
        app.add_option("--depth", o.depth, "messages in flight per active connection (default 1)")
            ->type_name("N")->check(CLI::Range(1, 4096)),
        app.add_option("--rate", o.rate,
                       "open loop: offer this many messages a second in total\n"
                       "(default: closed loop, as fast as the echoes come back)")
            ->type_name("MSGS_PER_S")->check(CLI::Range(1.0, 1e9)),
    };
    for (CLI::Option* option : traffic) option->group(sustained);

    const std::string server = "Server";
    app.add_option("--spawn-server", o.spawn_backend,
                   "start the project's echo_server with --backend NAME --port 0,\n"
                   "run against it, stop it; reports its CPU time and peak memory")
        ->type_name("NAME")->group(server)->check(backend_check);
    app.add_option("--server-path", o.server_path,
                   "the echo server binary (default: ../../examples/echo_server\n"
                   "relative to this binary, i.e. the same build directory)")
        ->type_name("PATH")->group(server);
    app.add_option("--server-arg", o.server_args, "an extra argument for the spawned server (repeatable)")
        ->type_name("ARG")->group(server)->allow_extra_args(false);

    const std::string output = "Output";
    app.add_flag("--json", o.json, "print one JSON object with every figure, and nothing else")->group(output);
    app.add_flag("--no-progress", no_progress, "no progress bar or stage lines")->group(output);

    app.callback([&] {
        o.mode = mode == "sustained" ? Options::Mode::sustained : Options::Mode::scenario;
        o.progress = !no_progress;
        const bool sustained_given = std::any_of(traffic.begin(), traffic.end(), [](auto* t) { return t->count() > 0; });
        if (const std::string why = inconsistency(app, o, sustained_given, timeout_s, duration_s); !why.empty())
            throw CLI::ValidationError(why);
    });
    return iomux::tools::parse_cli(app, argc, argv);
}

}  // namespace stress
