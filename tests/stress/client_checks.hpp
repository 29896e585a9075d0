// What every stress-client test does: run the tool with this run's backend and --json,
// read numbers from its JSON, and check that it passed or failed the expected way.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "run_tool.hpp"

namespace stress_test {

// The backend of this test run ($IOMUX_BACKEND): the client's loop and a spawned server's.
const std::string& backend();
// $STRESS_CLIENT (meson sets it); fails the test when unset.
std::string client_path();

// The client against 127.0.0.1:port, with --json and this run's backend.
ToolRun run_client(std::uint16_t port, std::vector<std::string> args,
                   std::chrono::milliseconds limit = std::chrono::seconds(30));

// stdout as the one JSON object it must be; fails the test (showing the output) otherwise.
nlohmann::json json_of(const ToolRun& run);
// A number from the JSON (in the object `section` when given); fails the test when it is not there.
double number(const ToolRun& run, const std::string& key, const std::string& section = {});
// stdout is the one JSON object and nothing else.
void check_json_only(const ToolRun& run);
// Exit 1, and the JSON counts errors of `kind` (at least `at_least` of them) and says not ok.
void check_fails_with(const ToolRun& run, const std::string& kind, double at_least = 1);
// Exit 0: every one of `conns` connections made, every reply verified, no error.
void check_passes(const ToolRun& run, double conns);

// The hard RLIMIT_NOFILE when it bounds what the tool may be asked for (20000 here), or
// 0 when it is unbounded (then a test of the limit has nothing to test, and says so).
std::uint64_t bounded_fd_limit();

}  // namespace stress_test
