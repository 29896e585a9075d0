#include "common/cli.hpp"

#include <fmt/format.h>

namespace iomux::tools {
namespace {

class UsageFirst : public CLI::Formatter {
public:
    explicit UsageFirst(std::string usage) : usage_(std::move(usage)) { column_width(25); }

    std::string make_help(const CLI::App* app, std::string, CLI::AppFormatMode mode) const override {
        std::string out = usage_ + "\n\n";
        if (!app->get_description().empty()) out += app->get_description() + "\n\n";
        if (const std::string positionals = make_positionals(app); !positionals.empty()) out += positionals + "\n";
        out += make_groups(app, mode);
        return app->get_footer().empty() ? out : out + "\n" + make_footer(app);
    }
    // One blank line between groups (make_groups puts it there), not two.
    std::string make_group(std::string group, bool positional, std::vector<const CLI::Option*> options) const override {
        return CLI::Formatter::make_group(std::move(group), positional, std::move(options)).substr(1);
    }
    // "--conns N": each description says its default and range itself (the type name
    // carries the validators' descriptions after a ':').
    std::string make_option_opts(const CLI::Option* o) const override {
        const std::string type = o->get_type_name();
        return o->get_expected_max() == 0 || o->get_positional() ? std::string() : " " + type.substr(0, type.find(':'));
    }

private:
    std::string usage_;
};

}  // namespace

void style_cli(CLI::App& app, std::string usage, std::string footer) {
    app.formatter(std::make_shared<UsageFirst>(std::move(usage)));
    app.footer(std::move(footer));
    app.option_defaults()->disable_flag_override();
    app.set_help_flag();  // added last, by parse_cli: it ends the help
}

std::optional<int> parse_cli(CLI::App& app, int argc, const char* const* argv) {
    const auto groups = app.get_groups();
    app.set_help_flag("-h,--help", "this text")->group(groups.empty() ? "Options" : groups.front());
    try {
        app.parse(argc, argv);
        return std::nullopt;
    } catch (const CLI::CallForHelp&) {
        fmt::print("{}", app.help());
        return 0;
    } catch (const CLI::ParseError& e) {
        fmt::print(stderr, "{}: {}\n\n{}", app.get_name(), e.what(), app.help());
        return 2;
    }
}

}  // namespace iomux::tools
