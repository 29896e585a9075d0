// Command-line options for the examples, on CLI11: --name VALUE (or --name=VALUE) and --flag.
//
//   examples::CommandLine cli("echo_server", "Echoes every byte back.");
//   examples::ServerOptions opts;
//   opts.add_to(cli);
//   if (auto status = cli.parse(argc, argv)) return *status;   // --help: 0, bad usage: 2
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "poller/poller.hpp"

namespace CLI {
class App;
}

namespace examples {

// Thrown by an option's setter for a value it cannot take; parse() reports it as bad usage.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class CommandLine {
public:
    CommandLine(std::string program, std::string summary);
    ~CommandLine();
    CommandLine(const CommandLine&) = delete;
    CommandLine& operator=(const CommandLine&) = delete;

    // An option that takes a value; set() throws UsageError to reject it.
    void option(std::string name, std::string metavar, std::string help,
                std::function<void(std::string_view)> set);
    void flag(std::string name, std::string help, bool& value);
    // Runs after every option was applied; throws UsageError to reject the combination.
    void check(std::function<void()> validate);

    // Applies argv. Returns nullopt to go on, or the exit status the program should end
    // with: 0 after printing --help, 2 after reporting bad usage on stderr.
    std::optional<int> parse(int argc, char** argv) const;

    // For options of a type CLI11 converts and checks itself (options.cpp).
    CLI::App& app() { return *app_; }

private:
    std::string program_;
    std::unique_ptr<CLI::App> app_;  // CLI11 is a large header: only options.cpp includes it
    std::vector<std::function<void()>> checks_;
};

// What every example server takes: --port and --backend.
struct ServerOptions {
    std::uint16_t port = 0;  // 0: the kernel picks a free port
    std::string backend;     // iomux::default_backend() unless --backend is given

    void add_to(CommandLine& cli);
};

// How a server spreads over cores: --threads, --workers, --shared-listener, --exclusive,
// --max-conns.
struct ScaleOptions {
    std::size_t threads = 1;     // loops per process, one per thread
    std::size_t workers = 1;     // pre-forked processes; 1: no fork
    bool shared_listener = false;  // one listening socket for every loop, not one each
    bool exclusive = false;        // a connection wakes one loop of a shared listener, not all
    std::uint64_t max_conns = 0;   // connections to plan fds for; 0: no plan

    std::size_t loops() const noexcept { return threads * workers; }
    iomux::Wakeup listener_wakeup() const noexcept { return exclusive ? iomux::Wakeup::exclusive : iomux::Wakeup::all; }
    void add_to(CommandLine& cli);
};

// Seconds, e.g. 0.5 or 30 (at most a day); throws UsageError.
double parse_seconds(std::string_view text);

}  // namespace examples
