#include "options.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <string_view>

#include <fmt/format.h>

namespace stress {
namespace {

template <class T>
T parse_integer(std::string_view flag, std::string_view text, T lo, T hi) {
    T value{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty() || value < lo || value > hi)
        throw UsageError(fmt::format("{} wants a whole number from {} to {}, not '{}'", flag, lo, hi, text));
    return value;
}

double parse_number(std::string_view flag, std::string_view text, double lo, double hi) {
    // std::from_chars for double needs GCC 11 / libc++ 17: strtod is everywhere.
    const std::string s(text);
    char* end = nullptr;
    const double value = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(value) || value < lo || value > hi)
        throw UsageError(fmt::format("{} wants a number from {} to {}, not '{}'", flag, lo, hi, text));
    return value;
}

std::chrono::nanoseconds parse_seconds(std::string_view flag, std::string_view text, double hi) {
    const double s = parse_number(flag, text, 0, hi);
    if (s <= 0) throw UsageError(fmt::format("{} wants a positive number of seconds, not '{}'", flag, text));
    return std::chrono::nanoseconds(static_cast<std::int64_t>(s * 1e9));
}

}  // namespace

std::string usage_text() {
    return R"(usage: stress_client [options]

Opens many TCP connections to an echo server and verifies every byte it echoes.

Default: the material's scenario. Connect --conns connections, then for each of three
messages ("This is the message. ", "It will be sent ", "in parts.") send it on every
connection and wait for every full reply.

  --host ADDR            server IPv4 address (default 127.0.0.1)
  --port N               server port (default 9999, the material's)
  --conns N              connections (default 11000)
  --backend NAME         this client's event loop: epoll, epoll-et, poll, select
                         (default $IOMUX_BACKEND, else epoll)
  --source-addrs K       spread connections over source addresses 127.0.0.1..127.0.0.K,
                         for more connections than one address has ephemeral ports
  --connect-window N     connects in flight at once (default 512)
  --connect-attempts N   tries per connection when refused or reset (default 8)
  --connect-via-reactor  wait for writability after every connect, even when the
                         handshake completed inside connect() (as on loopback)
  --abortive-close       end the connections with RST rather than FIN: no TIME_WAIT
                         left behind, which otherwise makes a next run against the
                         same server port within a minute pay more per connect
  --timeout SECONDS      everything must be done by then (default 60; sustained mode:
                         --duration + 60)
  --threads N            N reactors on N threads, the connections split among them;
                         in the scenario all threads finish a message before any
                         sends the next (default 1)
  --workers N            N worker processes, each with its share of the connections
                         and its own open-file limit (one process may hold only so
                         many fds: more connections need more workers; the tool says
                         how many); the parent merges their results

Sustained mode (--mode sustained, or any of these options):
  --mode scenario|sustained
  --duration SECONDS     how long to offer traffic (default 5)
  --active N             connections that carry traffic; the rest stay idle (default all)
  --msg-size BYTES       message size (default 64)
  --depth N              messages in flight per active connection (default 1)
  --rate MSGS_PER_S      open loop: offer this many messages a second in total
                         (default: closed loop, as fast as the echoes come back)

Server:
  --spawn-server NAME    start the project's echo_server with --backend NAME --port 0,
                         run against it, stop it; reports its CPU time and peak memory
  --server-path PATH     the echo server binary (default: ../../examples/echo_server
                         relative to this binary, i.e. the same build directory)
  --server-arg ARG       an extra argument for the spawned server (repeatable)

Output:
  --json                 print one JSON object with every figure, and nothing else
  --no-progress          no progress bar or stage lines
  -h, --help             this text

Exit status: 0 when every connection was made and every reply verified, 1 when anything
failed, 2 for bad usage (or a request this machine cannot satisfy, such as more
connections than the open-file limit allows).
)";
}

Options parse_options(std::span<const char* const> args) {
    Options o;
    bool sustained_flag = false, port_given = false, active_given = false;
    std::optional<Options::Mode> mode;
    std::optional<std::chrono::nanoseconds> timeout;

    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string_view arg = args[i];
        std::string_view value;
        bool has_value = false;
        if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
            value = arg.substr(eq + 1);
            arg = arg.substr(0, eq);
            has_value = true;
        }
        auto take = [&]() -> std::string_view {
            if (has_value) return value;
            if (i + 1 >= args.size()) throw UsageError(fmt::format("{} needs a value", arg));
            return args[++i];
        };
        auto no_value = [&] {
            if (has_value) throw UsageError(fmt::format("{} takes no value", arg));
        };

        if (arg == "-h" || arg == "--help") {
            no_value();
            o.help = true;
        } else if (arg == "--host") {
            o.host = std::string(take());
        } else if (arg == "--port") {
            o.port = parse_integer<std::uint16_t>(arg, take(), 1, 65535);
            port_given = true;
        } else if (arg == "--conns") {
            o.conns = parse_integer<std::uint32_t>(arg, take(), 1, 10'000'000);
        } else if (arg == "--backend") {
            o.backend = std::string(take());
        } else if (arg == "--source-addrs") {
            o.source_addrs = parse_integer<std::uint32_t>(arg, take(), 1, 254);
        } else if (arg == "--connect-window") {
            o.connect_window = parse_integer<std::uint32_t>(arg, take(), 1, 1'000'000);
        } else if (arg == "--connect-attempts") {
            o.connect_attempts = parse_integer<std::uint32_t>(arg, take(), 1, 100);
        } else if (arg == "--connect-via-reactor") {
            no_value();
            o.connect_via_reactor = true;
        } else if (arg == "--abortive-close") {
            no_value();
            o.abortive_close = true;
        } else if (arg == "--threads") {
            o.threads = parse_integer<std::uint32_t>(arg, take(), 1, 256);
        } else if (arg == "--workers") {
            o.workers = parse_integer<std::uint32_t>(arg, take(), 1, 256);
        } else if (arg == "--timeout") {
            timeout = parse_seconds(arg, take(), 86400);
        } else if (arg == "--mode") {
            const std::string_view m = take();
            if (m == "scenario")
                mode = Options::Mode::scenario;
            else if (m == "sustained")
                mode = Options::Mode::sustained;
            else
                throw UsageError(fmt::format("--mode is scenario or sustained, not '{}'", m));
        } else if (arg == "--duration") {
            o.duration = parse_seconds(arg, take(), 3600);
            sustained_flag = true;
        } else if (arg == "--active") {
            o.active = parse_integer<std::uint32_t>(arg, take(), 1, 10'000'000);
            sustained_flag = active_given = true;
        } else if (arg == "--msg-size") {
            o.msg_size = parse_integer<std::uint32_t>(arg, take(), 1, 16 << 20);
            sustained_flag = true;
        } else if (arg == "--depth") {
            o.depth = parse_integer<std::uint32_t>(arg, take(), 1, 4096);
            sustained_flag = true;
        } else if (arg == "--rate") {
            o.rate = parse_number(arg, take(), 1, 1e9);
            sustained_flag = true;
        } else if (arg == "--spawn-server") {
            o.spawn_backend = std::string(take());
            if (o.spawn_backend.empty()) throw UsageError("--spawn-server needs a backend name");
        } else if (arg == "--server-path") {
            o.server_path = std::string(take());
        } else if (arg == "--server-arg") {
            o.server_args.emplace_back(take());
        } else if (arg == "--json") {
            no_value();
            o.json = true;
        } else if (arg == "--no-progress") {
            no_value();
            o.progress = false;
        } else {
            throw UsageError(fmt::format("unknown option '{}'", arg));
        }
    }
    if (o.help) return o;

    if (mode == Options::Mode::scenario && sustained_flag)
        throw UsageError("--duration, --active, --msg-size, --depth and --rate belong to --mode sustained");
    o.mode = mode.value_or(sustained_flag ? Options::Mode::sustained : Options::Mode::scenario);
    if (o.mode == Options::Mode::sustained) {
        if (!active_given) o.active = o.conns;
        if (o.active > o.conns)
            throw UsageError(fmt::format("--active {} is more than --conns {}", o.active, o.conns));
    }
    if (timeout) {
        if (o.mode == Options::Mode::sustained && *timeout <= o.duration)
            throw UsageError("--timeout must be longer than --duration (it bounds connecting, traffic and the drain)");
        o.timeout = *timeout;
    } else {
        o.timeout = o.mode == Options::Mode::sustained ? o.duration + std::chrono::seconds(60) : std::chrono::seconds(60);
    }
    if (o.threads > o.conns) throw UsageError(fmt::format("--threads {} is more than --conns {}", o.threads, o.conns));
    if (o.workers > o.conns) throw UsageError(fmt::format("--workers {} is more than --conns {}", o.workers, o.conns));
    if (std::uint64_t{o.threads} * std::max<std::uint32_t>(o.workers, 1) > o.conns)
        throw UsageError(fmt::format("--threads {} in each of --workers {} is more threads than --conns {}", o.threads,
                                     o.workers, o.conns));
    if (!o.spawn_backend.empty() && port_given)
        throw UsageError("--port and --spawn-server exclude each other: the spawned server picks its own port");
    if (o.spawn_backend.empty() && (!o.server_path.empty() || !o.server_args.empty()))
        throw UsageError("--server-path and --server-arg go with --spawn-server");
    return o;
}

}  // namespace stress
