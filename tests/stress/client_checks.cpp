#include "client_checks.hpp"

#include <doctest/doctest.h>

#include <sys/resource.h>

#include "tests/support.hpp"

namespace stress_test {

const std::string& backend() {
    static const std::string name = iomux::test::backend();
    return name;
}

std::string client_path() {
    const std::string path = env("STRESS_CLIENT");
    REQUIRE_MESSAGE(!path.empty(), "STRESS_CLIENT must name the stress_client binary (meson sets it)");
    return path;
}

ToolRun run_client(std::uint16_t port, std::vector<std::string> args, std::chrono::milliseconds limit) {
    std::vector<std::string> all{"--port", std::to_string(port), "--backend", backend(), "--json"};
    all.insert(all.end(), args.begin(), args.end());
    return run_tool(client_path(), all, limit);
}

nlohmann::json json_of(const ToolRun& run) {
    INFO("stdout: " << run.out);
    INFO("stderr: " << run.err);
    const nlohmann::json json = nlohmann::json::parse(run.out, nullptr, false);
    REQUIRE(json.is_object());
    return json;
}

double number(const ToolRun& run, const std::string& key, const std::string& section) {
    const nlohmann::json json = json_of(run);
    const nlohmann::json& in = section.empty() ? json : json.value(section, nlohmann::json::object());
    INFO("stdout: " << run.out);
    REQUIRE_MESSAGE(in.contains(key), "no \"" << key << "\" in the JSON");
    REQUIRE(in.at(key).is_number());
    return in.at(key).get<double>();
}

void check_json_only(const ToolRun& run) {
    CHECK(json_of(run).at("tool") == "stress_client");
}

void check_fails_with(const ToolRun& run, const std::string& kind, double at_least) {
    INFO("stdout: " << run.out);
    INFO("stderr: " << run.err);
    CHECK_FALSE(run.timed_out);
    CHECK(run.exit_code == 1);
    check_json_only(run);
    CHECK(json_of(run).at("ok") == false);
    CHECK(number(run, kind, "errors") >= at_least);
    CHECK(json_of(run).at("first_errors").contains(kind));
}

void check_passes(const ToolRun& run, double conns) {
    INFO("stdout: " << run.out);
    INFO("stderr: " << run.err);
    CHECK_FALSE(run.timed_out);
    CHECK(run.exit_code == 0);
    check_json_only(run);
    CHECK(json_of(run).at("ok") == true);
    CHECK(json_of(run).at("all_verified") == true);
    CHECK(number(run, "conns_made") == conns);
    CHECK(number(run, "messages_verified") == number(run, "messages_expected"));
    CHECK(number(run, "errors_total") == 0);
}

std::uint64_t bounded_fd_limit() {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= 1'000'000) {
        MESSAGE("the hard RLIMIT_NOFILE is unbounded here: nothing to test");
        return 0;
    }
    return rl.rlim_max;
}

}  // namespace stress_test
