// Every tool's command line is CLI11 with one set of conventions: the help begins with a
// "usage:" line, lists the options by group, and ends with a footer; a flag takes no value
// (--json=yes is bad usage); --help exits 0, bad usage exits 2 with the reason and then
// the usage text on stderr.
#pragma once

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

namespace iomux::tools {

// usage: the help's first line, e.g. "usage: stress_client [options]"; the app's description
// follows it, then its options by group, then footer.
void style_cli(CLI::App& app, std::string usage, std::string footer = {});

// nullopt: go on. Otherwise the status to exit with, the help or the reason already printed.
std::optional<int> parse_cli(CLI::App& app, int argc, const char* const* argv);

}  // namespace iomux::tools
