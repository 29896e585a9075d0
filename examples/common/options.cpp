#include "common/options.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <memory>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "poller/errors.hpp"
#include "poller/poller.hpp"

namespace examples {

CommandLine::CommandLine(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

void CommandLine::option(std::string name, std::string metavar, std::string help,
                         std::function<void(std::string_view)> set) {
    options_.push_back({std::move(name), std::move(metavar), std::move(help), std::move(set)});
}

void CommandLine::flag(std::string name, std::string help, bool& value) {
    options_.push_back({std::move(name), {}, std::move(help), {}, &value});
}

void CommandLine::check(std::function<void()> validate) { checks_.push_back(std::move(validate)); }

const CommandLine::Option* CommandLine::find(std::string_view name) const {
    for (const Option& o : options_)
        if (o.name == name) return &o;
    return nullptr;
}

std::string CommandLine::usage() const {
    std::string text = fmt::format("usage: {} [options]\n{}\n\noptions:\n", program_, summary_);
    for (const Option& o : options_) {
        const std::string left = o.flag ? o.name : fmt::format("{} {}", o.name, o.metavar);
        text += fmt::format("  {:<24} {}\n", left, o.help);
    }
    text += fmt::format("  {:<24} {}\n", "--help", "show this help and exit");
    return text;
}

std::optional<int> CommandLine::parse(int argc, char** argv) const {
    try {
        for (int i = 1; i < argc; ++i) {
            std::string_view arg = argv[i];
            if (arg == "--help" || arg == "-h") {
                fmt::print("{}", usage());
                return 0;
            }
            // --name=value and --name value are both accepted.
            std::optional<std::string_view> value;
            if (const auto eq = arg.find('='); eq != std::string_view::npos) {
                value = arg.substr(eq + 1);
                arg = arg.substr(0, eq);
            }
            const Option* o = find(arg);
            if (!o) throw UsageError(fmt::format("unknown option '{}'", argv[i]));
            if (o->flag) {
                if (value) throw UsageError(fmt::format("{} takes no value", o->name));
                *o->flag = true;
                continue;
            }
            if (!value) {
                if (i + 1 == argc) throw UsageError(fmt::format("{} needs a value", o->name));
                value = argv[++i];
            }
            o->set(*value);
        }
        for (const auto& validate : checks_) validate();
    } catch (const UsageError& e) {
        fmt::print(stderr, "{}: {}\nTry '{} --help'.\n", program_, e.what(), program_);
        return 2;
    }
    return std::nullopt;
}

void ServerOptions::add_to(CommandLine& cli) {
    cli.option("--port", "PORT", "TCP port on 127.0.0.1 (default 0: any free port)",
               [this](std::string_view v) { port = parse_port(v); });
    // default_backend() reads $IOMUX_BACKEND; a bad value is bad usage unless --backend
    // overrides it, so its error is kept until parsing is over.
    auto env_error = std::make_shared<std::string>();
    try {
        backend = iomux::default_backend();
    } catch (const iomux::ValueError& e) {
        *env_error = fmt::format("$IOMUX_BACKEND: {}", e.what());
    }
    const auto names = iomux::backend_names();
    cli.option("--backend", "NAME",
               fmt::format("one of {} (default: $IOMUX_BACKEND, else {})", fmt::join(names, ", "),
                           names.front()),
               [this, names, env_error](std::string_view v) {
                   if (std::find(names.begin(), names.end(), v) == names.end())
                       throw UsageError(fmt::format("unknown backend '{}' (this build has: {})", v,
                                                    fmt::join(names, ", ")));
                   backend = v;
                   env_error->clear();
               });
    cli.check([env_error] {
        if (!env_error->empty()) throw UsageError(*env_error);
    });
}

void ScaleOptions::add_to(CommandLine& cli) {
    // Past the core count more loops only take turns; the caps just catch typos.
    cli.option("--threads", "N", "event loops per process, one per thread (default 1)",
               [this](std::string_view v) { threads = parse_count(v, "--threads", 1, 256); });
    cli.option("--workers", "N", "pre-forked processes, each with --threads loops (default 1: no fork)",
               [this](std::string_view v) { workers = parse_count(v, "--workers", 1, 256); });
    cli.flag("--shared-listener",
             "every loop accepts from one listening socket (default: one socket per loop, SO_REUSEPORT)",
             shared_listener);
    cli.flag("--exclusive",
             "with --shared-listener: a connection wakes one loop, not every one (EPOLLEXCLUSIVE; "
             "the epoll backends only, the others wake all)",
             exclusive);
    cli.check([this] {
        if (exclusive && !shared_listener) throw UsageError("--exclusive needs --shared-listener");
    });
    cli.option("--max-conns", "C", "plan for C connections: say how many workers the fd limit needs",
               [this](std::string_view v) { max_conns = parse_count(v, "--max-conns", 1, 100'000'000); });
}

std::uint64_t parse_count(std::string_view text, std::string_view what, std::uint64_t min, std::uint64_t max) {
    std::uint64_t n = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty() || n < min || n > max)
        throw UsageError(fmt::format("bad {} '{}': expected {}..{}", what, text, min, max));
    return n;
}

std::uint16_t parse_port(std::string_view text) {
    return static_cast<std::uint16_t>(parse_count(text, "port", 0, 65535));
}

double parse_seconds(std::string_view text) {
    // std::from_chars for double is missing from clang 14's libstdc++ pairing; strtod is not.
    const std::string s(text);
    char* end = nullptr;
    const double seconds = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(seconds) || seconds <= 0 ||
        seconds > 86400)
        throw UsageError(fmt::format("bad duration '{}': expected seconds, e.g. 0.5 or 30", text));
    return seconds;
}

}  // namespace examples
