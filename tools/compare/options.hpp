// The command line of iomux_compare: workloads as words, everything else as --options.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace iomux::compare {

enum class Format { table, json, csv };

struct Options {
    bool default_run = false;  // no workload named: the short default comparison
    bool dispatch = false, echo = false, connect = false, scaling = false, instructions = false;

    std::vector<std::string> backends;  // empty: every backend this build has
    bool bare = true;                   // the limit rows: bare-epoll, and bare-io_uring where it runs
    bool peers = true;                  // the peer libraries' rows, when built in
    std::size_t repeat = 3;
    Format format = Format::table;
    std::optional<std::string> plot;
    bool quiet = false;                 // no progress lines on stderr

    // dispatch
    std::vector<std::size_t> pairs{100, 1000, 5000, 9000};
    std::size_t active = 100;
    std::size_t writes = 1000;
    std::size_t rounds = 25;
    std::vector<std::size_t> instr_pairs{1000};  // instructions: --n when given

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
    std::optional<std::string> echo_server, stress_client, bare_echo, bare_uring_echo;
};

// nullopt: run with o. Otherwise the exit status (0 after --help, 2 after bad usage), the
// help or the reason already printed. With no workload named, o is the default run's.
std::optional<int> parse_options(int argc, const char* const* argv, Options& o);

}  // namespace iomux::compare
