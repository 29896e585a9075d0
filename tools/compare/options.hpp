// The command line of iomux_compare: workloads as words, everything else as --options.
#pragma once

#include <cstddef>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace iomux::compare {

// Bad usage: main prints the message and the usage text and exits 2.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

enum class Format { table, json, csv };

struct Options {
    bool help = false;
    bool default_run = false;  // no workload named: the short default comparison
    bool dispatch = false, echo = false, connect = false, scaling = false;

    std::vector<std::string> backends;  // empty: every backend this build has
    bool bare = true;                   // the bare-epoll limit row
    bool peers = true;                  // libevent, libev, libuv rows when built in
    std::size_t repeat = 3;
    Format format = Format::table;
    std::optional<std::string> plot;
    bool quiet = false;                 // no progress lines on stderr

    // dispatch
    std::vector<std::size_t> pairs{100, 1000, 5000, 9000};
    std::size_t active = 100;
    std::size_t writes = 1000;
    std::size_t rounds = 25;

    // echo: closed loop over conns x shares, plus the open-loop row
    std::vector<std::size_t> conns{100, 1000, 11000};
    std::vector<double> shares{1.0, 0.01};  // fraction of the connections that carry traffic
    std::size_t msg_size = 64;
    std::size_t depth = 1;
    double duration = 2.0;      // seconds of load per run
    double rate = 30000;        // open loop: messages/s offered in total (0: no open-loop row)
    std::size_t open_conns = 11000;

    // scaling: one loop against N threads and N workers, closed loop
    std::vector<std::size_t> scaling_conns{1000, 11000};
    std::size_t loops = 2;
    std::size_t client_threads = 2;

    // connect: the stress client's default scenario (the material's 11000 connections)
    std::optional<std::size_t> connect_conns;  // nullopt: the client's own default

    // Programs, found beside this one unless given.
    std::optional<std::string> echo_server, stress_client, bare_echo;

    std::set<std::string> given;  // options set on the command line (the default run keeps them)
};

// Throws UsageError.
Options parse_options(int argc, char** argv);
std::string usage_text();

// For --n etc.: "100,1000" -> {100, 1000}; UsageError on anything else.
std::vector<std::size_t> parse_count_list(const std::string& option, const std::string& text);
// "all", "1%", "0.01" -> fractions in (0, 1].
std::vector<double> parse_share_list(const std::string& option, const std::string& text);

}  // namespace iomux::compare
