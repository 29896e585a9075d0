#include "common/options.hpp"

#include <cmath>
#include <cstdlib>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "poller/errors.hpp"
#include "poller/poller.hpp"

namespace examples {
namespace {

// "usage: NAME [options]", the summary, then "--name METAVAR  help" per option.
class Usage : public CLI::Formatter {
public:
    Usage() { column_width(26); }
    std::string make_help(const CLI::App* app, std::string, CLI::AppFormatMode mode) const override {
        return fmt::format("usage: {} [options]\n{}\n{}", app->get_name(), app->get_description(), make_groups(app, mode));
    }
    std::string make_option_opts(const CLI::Option* o) const override {
        const std::string type = o->get_type_name();  // the validators' descriptions follow a ':'
        return o->get_expected_max() == 0 ? std::string() : " " + type.substr(0, type.find(':'));
    }
};

}  // namespace

CommandLine::CommandLine(std::string program, std::string summary)
    : program_(program), app_(std::make_unique<CLI::App>(std::move(summary), std::move(program))) {
    app_->formatter(std::make_shared<Usage>());
    app_->option_defaults()->disable_flag_override()->group("options");
    app_->set_help_flag();  // added by parse(), after every option: it ends the list
}

CommandLine::~CommandLine() = default;

void CommandLine::option(std::string name, std::string metavar, std::string help,
                         std::function<void(std::string_view)> set) {
    app_->add_option_function<std::string>(name, [set](const std::string& v) { set(v); }, help)->type_name(metavar);
}

void CommandLine::flag(std::string name, std::string help, bool& value) { app_->add_flag(name, value, help); }

void CommandLine::check(std::function<void()> validate) { checks_.push_back(std::move(validate)); }

std::optional<int> CommandLine::parse(int argc, char** argv) const {
    std::string error;
    app_->set_help_flag("-h,--help", "show this help and exit");
    try {
        app_->parse(argc, argv);
        for (const auto& validate : checks_) validate();
        return std::nullopt;
    } catch (const CLI::CallForHelp&) {
        fmt::print("{}", app_->help());
        return 0;
    } catch (const CLI::ParseError& e) {
        error = e.what();
    } catch (const UsageError& e) {
        error = e.what();
    }
    fmt::print(stderr, "{}: {}\nTry '{} --help'.\n", program_, error, program_);
    return 2;
}

void ServerOptions::add_to(CommandLine& cli) {
    cli.app().add_option("--port", port, "TCP port on 127.0.0.1 (default 0: any free port)")->type_name("PORT");
    // default_backend() reads $IOMUX_BACKEND; a bad value is bad usage unless --backend
    // overrides it, so its error is kept until parsing is over.
    auto env_error = std::make_shared<std::string>();
    try {
        backend = iomux::default_backend();
    } catch (const iomux::ValueError& e) {
        *env_error = fmt::format("$IOMUX_BACKEND: {}", e.what());
    }
    const auto names = iomux::backend_names();
    cli.app()
        .add_option_function<std::string>(
            "--backend",
            [this, env_error](const std::string& v) {
                backend = v;
                env_error->clear();
            },
            fmt::format("one of {} (default: $IOMUX_BACKEND, else {})", fmt::join(names, ", "), names.front()))
        ->type_name("NAME")
        ->check(CLI::IsMember(names));
    cli.check([env_error] {
        if (!env_error->empty()) throw UsageError(*env_error);
    });
}

void ScaleOptions::add_to(CommandLine& cli) {
    CLI::App& app = cli.app();
    // Past the core count more loops only take turns; the caps just catch typos.
    app.add_option("--threads", threads, "event loops per process, one per thread (default 1)")
        ->type_name("N")->check(CLI::Range(1, 256));
    app.add_option("--workers", workers, "pre-forked processes, each with --threads loops (default 1: no fork)")
        ->type_name("N")->check(CLI::Range(1, 256));
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
    app.add_option("--max-conns", max_conns, "plan for C connections: say how many workers the fd limit needs")
        ->type_name("C")->check(CLI::Range(1, 100'000'000));
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
