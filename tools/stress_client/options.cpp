#include "options.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

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

// "2xx", "200", "200-399": the statuses that pass.
std::string parse_statuses(const std::string& text, ProtocolSpec& p) {
    int lo = 0, hi = 0;
    char x1 = 0, x2 = 0, extra = 0;
    if (std::sscanf(text.c_str(), "%1d%c%c%c", &lo, &x1, &x2, &extra) == 3 && x1 == 'x' && x2 == 'x') {
        p.status_min = lo * 100, p.status_max = lo * 100 + 99;
    } else if (const int n = std::sscanf(text.c_str(), "%d-%d%c", &lo, &hi, &extra); n == 2 || n == 1) {
        p.status_min = lo, p.status_max = n == 2 ? hi : lo;
    } else {
        return "--expect-status takes 2xx, 200 or 200-399";
    }
    if (p.status_min < 100 || p.status_max > 599 || p.status_min > p.status_max)
        return fmt::format("--expect-status {}: statuses are 100 to 599, low to high", text);
    return {};
}

// The protocol options, checked against each other and decoded into o.protocol.
std::string protocol_inconsistency(const CLI::App& app, Options& o, const std::string& protocol,
                                   const std::string& statuses) {
    const bool http = protocol == "http";
    const bool request = app.count("--request") > 0, expect = app.count("--expect") > 0;
    for (const char* name : {"--method", "--path", "--header", "--expect-status"})
        if (app.count(name) && !http) return fmt::format("{} goes with --protocol http", name);
    if (http && request) return "--protocol http makes its own requests: --request goes with line and binary protocols";
    if (protocol == "echo" && (request || expect)) return "--request and --expect are not for --protocol echo";
    if (protocol == "expect" && !(request && expect)) return "--request and --expect go together";
    if ((http || request) && app.count("--msg-size")) return "--msg-size is the echo's message size";
    o.protocol.kind = http ? ProtocolSpec::Kind::http : request ? ProtocolSpec::Kind::expect : ProtocolSpec::Kind::echo;
    try {
        if (request) o.protocol.request = decode_bytes(o.protocol.request);
        if (expect) o.protocol.expect = decode_bytes(o.protocol.expect);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    if (request && (o.protocol.request.empty() || o.protocol.expect.empty())) return "--request and --expect must not be empty";
    if (o.method.empty() || o.method.find_first_of(" \r\n") != std::string::npos) return "--method must be one word";
    if (o.path.empty() || o.path.find_first_of(" \r\n") != std::string::npos) return "--path must be one word, such as /index.html";
    for (const std::string& h : o.headers)
        if (h.find(':') == std::string::npos || h.find_first_of("\r\n") != std::string::npos)
            return fmt::format("--header {:?} is not NAME: VALUE", h);
    o.protocol.head = o.method == "HEAD";
    return app.count("--expect-status") ? parse_statuses(statuses, o.protocol) : std::string();
}

// The reason a parsed command line cannot run, or empty.
std::string inconsistency(const CLI::App& app, Options& o, bool sustained_given, double timeout_s, double duration_s) {
    if (o.mode == Options::Mode::scenario && sustained_given && app.count("--mode"))
        return "--duration, --active, --msg-size, --depth and --rate belong to --mode sustained";
    if (app.count("--hold")) {
        for (const char* name : {"--active", "--msg-size", "--depth", "--rate", "--mode"})
            if (app.count(name)) return fmt::format("--hold keeps the connections idle: no {}", name);
        o.mode = Options::Mode::hold;
    } else if (sustained_given) {
        o.mode = Options::Mode::sustained;
    }
    if (o.mode == Options::Mode::sustained) {
        if (!app.count("--active")) o.active = o.conns;
        if (o.active > o.conns) return fmt::format("--active {} is more than --conns {}", o.active, o.conns);
    }
    o.duration = duration_cast<nanoseconds>(Seconds(duration_s));
    if (app.count("--timeout") && o.mode == Options::Mode::sustained && timeout_s <= duration_s)
        return "--timeout must be longer than --duration (it bounds connecting, traffic and the drain)";
    if (o.mode == Options::Mode::hold) {
        o.active = 0;
        if (app.count("--timeout") && timeout_s <= duration_s) return "--timeout must be longer than --duration";
    }
    const double default_timeout = o.mode != Options::Mode::scenario ? duration_s + 60 : 60;
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
    CLI::App app(R"(Opens many TCP connections to a server and checks every reply: an echo server's (by
default), a line or binary protocol's (--request / --expect), or HTTP/1.1's (--protocol http).

Default: the material's scenario. Connect --conns connections, then for each of three
messages ("This is the message. ", "It will be sent ", "in parts.") send it on every
connection and wait for every full reply. `stress_client merge FILE...` merges the results
of separate runs (--result-file).)",
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

    bool hold = false;
    app.add_flag("--hold", hold, "hold mode: open --conns connections (at --connect-rate) and keep\n"
                 "them idle for --duration; fails if the server drops any")->group(sustained);
    app.add_option("--connect-rate", o.connect_rate, "start at most this many connections a second (default: as\n"
                   "fast as --connect-window allows)")->type_name("PER_S")->check(CLI::Range(0.001, 1e9));

    const std::string proto = "Protocol (default: echo, every reply must equal what was sent)";
    std::string protocol = "echo", statuses;
    app.add_option("--protocol", protocol, "echo, expect (--request / --expect) or http")->type_name("NAME")
        ->group(proto)->check(CLI::IsMember({"echo", "expect", "http"}));
    app.add_option("--request", o.protocol.request,
                   "what each request sends: text with C escapes (\\r\\n, \\xHH),\n"
                   "or @FILE; for line and binary protocols, with --expect")->type_name("BYTES")->group(proto);
    app.add_option("--expect", o.protocol.expect,
                   "the exact reply to each request (same syntax); with --protocol\n"
                   "http, the exact body of each response (default: not checked)")->type_name("BYTES")->group(proto);
    app.add_option("--method", o.method, "HTTP method (default GET)")->type_name("NAME")->group(proto);
    app.add_option("--path", o.path, "HTTP request target (default /)")->type_name("PATH")->group(proto);
    app.add_option("--header", o.headers, "an HTTP request header, \"Name: value\" (repeatable)")
        ->type_name("HEADER")->group(proto)->allow_extra_args(false);
    app.add_option("--expect-status", statuses, "HTTP statuses that pass: 2xx (default), 200 or 200-399")
        ->type_name("RANGE")->group(proto);

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
    app.add_option("--result-file", o.result_file,
                   "also write the whole result (histograms, error counts, stages)\n"
                   "as JSON to FILE, for `stress_client merge FILE...`")->type_name("FILE")->group(output);

    app.callback([&] {
        o.mode = mode == "sustained" ? Options::Mode::sustained : Options::Mode::scenario;
        o.progress = !no_progress;
        const bool sustained_given = std::any_of(traffic.begin(), traffic.end(), [](auto* t) { return t->count() > 0; });
        if (const std::string why = inconsistency(app, o, sustained_given, timeout_s, duration_s); !why.empty())
            throw CLI::ValidationError(why);
        if (const std::string why = protocol_inconsistency(app, o, app.count("--protocol") || !(app.count("--request") || app.count("--expect")) ? protocol : "expect", statuses);
            !why.empty())
            throw CLI::ValidationError(why);
    });
    return iomux::tools::parse_cli(app, argc, argv);
}

ProtocolSpec protocol_spec(const Options& o, const std::string& host, std::uint16_t port) {
    ProtocolSpec spec = o.protocol;
    if (spec.kind != ProtocolSpec::Kind::http) return spec;
    spec.request = fmt::format("{} {} HTTP/1.1\r\nHost: {}:{}\r\n", o.method, o.path, host, port);
    for (const std::string& h : o.headers) spec.request += h + "\r\n";
    spec.request += "\r\n";
    return spec;
}

std::string decode_bytes(const std::string& arg) {
    if (arg.starts_with('@')) {
        std::ifstream f(arg.substr(1), std::ios::binary);
        std::ostringstream text;
        if (!(f && text << f.rdbuf())) throw std::invalid_argument(fmt::format("cannot read {}", arg.substr(1)));
        return text.str();
    }
    std::string out;
    for (std::size_t i = 0; i < arg.size(); ++i) {
        if (arg[i] != '\\') {
            out += arg[i];
            continue;
        }
        const char e = i + 1 < arg.size() ? arg[++i] : '\0';
        static constexpr std::string_view from = "rnt0\\\"'@", to("\r\n\t\0\\\"'@", 8);
        if (const auto k = from.find(e); e != '\0' && k != std::string_view::npos) {
            out += to[k];
        } else if (e == 'x' && i + 2 < arg.size() && std::isxdigit(static_cast<unsigned char>(arg[i + 1])) &&
                   std::isxdigit(static_cast<unsigned char>(arg[i + 2]))) {
            out += static_cast<char>(std::stoi(arg.substr(i + 1, 2), nullptr, 16));
            i += 2;
        } else {
            throw std::invalid_argument(fmt::format(
                "a bad escape at byte {} of {:?}: use \\r \\n \\t \\0 \\\\ \\\" \\' \\@ or \\xHH", i, arg));
        }
    }
    return out;
}

}  // namespace stress
