// Report: the end of a run, as a summary table for people or one JSON object for programs
// (the comparison tool reads the JSON: field names are an interface, keep them stable).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/fd_limit.hpp"
#include "common/process_stats.hpp"
#include "run_result.hpp"

namespace stress {

struct ServerFigures {
    pid_t pid = 0;
    std::string command;
    std::string backend;
    bool sampled = false;          // /proc was readable at the end of the run
    iomux::tools::CpuTimes cpu;    // during the run: from the first connect to the last reply
    std::uint64_t start_rss_kib = 0;
    std::uint64_t peak_rss_kib = 0;
    std::string exit;              // how it ended after our SIGTERM
    bool exit_clean = true;
    std::optional<std::string> died_early;  // it exited during the run
};

struct Report {
    std::string host;
    std::uint16_t port = 0;
    std::string backend;           // the client's
    std::uint32_t source_addrs = 0;
    double timeout_s = 0;
    iomux::tools::FdLimit fd_limit;
    RunResult run;
    iomux::tools::CpuTimes client_cpu;  // during the run, like the server's
    std::optional<ServerFigures> server;
    std::uint32_t threads = 1;      // per process
    std::uint32_t workers = 0;      // processes; 0: this one alone
    std::vector<std::string> worker_failures;  // "worker 2 (pid 123, connections 5000-7499): killed by SIGKILL ..."

    // Everything that went wrong, one sentence each; empty when the run passed.
    std::vector<std::string> problems() const;
    bool ok() const { return problems().empty(); }
};

std::string format_table(const Report& report);
std::string format_json(const Report& report);

}  // namespace stress
