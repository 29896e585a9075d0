// --threads and --workers, from outside: the connections split over threads or worker
// processes, every reply still verified, the results merged into one report (counts
// summed, histograms merged), a failing share reported as such, and a worker that dies
// named in the failure.
#include <doctest/doctest.h>

#include <signal.h>

#include <string>
#include <thread>
#include <vector>

#include "client_checks.hpp"
#include "fake_server.hpp"
#include "run_tool.hpp"
#include "tests/support.hpp"

using namespace stress_test;
using namespace std::chrono_literals;

TEST_CASE("--threads 2: the scenario's connections split over two reactors, merged into one report") {
    iomux::test::raise_fd_limit();
    FakeServer server(Behavior::echo);
    const ToolRun run = run_client(server.port(), {"--conns", "300", "--threads", "2"});
    check_passes(run, 300);
    CHECK(number(run, "threads") == 2);
    CHECK(number(run, "messages_verified") == 900);
    CHECK(number(run, "count", "latency_us") == 900);  // both threads' histograms
    CHECK(number(run, "bytes_verified") == 300 * 46);
    CHECK(server.accepted() == 300);
    // One stage per barrier: connect and the three messages, each over all 300.
    const nlohmann::json stages = json_of(run).at("stages");
    REQUIRE(stages.size() == 4);
    for (const nlohmann::json& stage : stages) {
        INFO(stage.dump());
        CHECK(stage.at("expected") == 300);
        CHECK(stage.at("done") == 300);
    }
    CHECK(stages.at(3).at("name") == "message 3");
}

TEST_CASE("--threads 2 or --workers 2 against a server that resets every 4th connection: every share's errors") {
    for (const std::string split : {"--threads", "--workers"}) {
        INFO(split);
        FakeServer server(Behavior::reset_some);
        const ToolRun run = run_client(server.port(), {"--conns", "200", split, "2", "--timeout", "10"});
        check_fails_with(run, "reset");
        CHECK(number(run, "reset", "errors") == 50);
        CHECK(number(run, "messages_verified") == 150 * 3);
        CHECK(json_of(run).at("worker_failures").empty());  // the workers themselves did fine
    }
}

TEST_CASE("--threads 2 in sustained mode: active connections and the rate split, figures summed") {
    FakeServer server(Behavior::echo);
    const ToolRun run = run_client(server.port(), {"--conns", "40", "--active", "10", "--threads", "2", "--rate", "1000",
                                                   "--depth", "4", "--duration", "0.5"});
    check_passes(run, 40);
    CHECK(number(run, "active", "sustained") == 10);
    CHECK(number(run, "rate", "sustained") == 1000);
    const double window = number(run, "window_s", "sustained");
    CHECK(number(run, "messages", "sustained") == doctest::Approx(1000 * window).epsilon(0.15));
}

TEST_CASE("--workers 2: two processes, each its share, merged into one report") {
    FakeServer server(Behavior::echo);
    const ToolRun run = run_client(server.port(), {"--conns", "300", "--workers", "2", "--threads", "2"});
    check_passes(run, 300);
    CHECK(number(run, "workers") == 2);
    CHECK(number(run, "messages_verified") == 900);
    CHECK(number(run, "count", "latency_us") == 900);  // the workers' histograms, merged
    CHECK(number(run, "p99", "latency_us") >= number(run, "p50", "latency_us"));
    CHECK(number(run, "max", "latency_us") >= number(run, "p99", "latency_us"));
    CHECK(number(run, "client_cpu_s") > 0);  // the workers' CPU, summed
    CHECK(json_of(run).at("worker_failures").empty());
    CHECK(server.accepted() == 300);
}

TEST_CASE("--workers 2, one of them killed: the run fails and names the worker and how it died") {
    // The server never answers, so both workers are still waiting when one is killed;
    // the other runs into the deadline and reports its timeouts.
    FakeServer server(Behavior::silent);
    pid_t victim = 0;
    const ToolRun run = run_tool(
        client_path(), {"--port", std::to_string(server.port()), "--backend", backend(), "--json", "--conns", "20",
                        "--workers", "2", "--timeout", "1"},
        20s, [&victim](pid_t tool) {
            const std::vector<pid_t> workers = children_of(tool, 2, 5s);
            if (workers.size() < 2) return;
            std::this_thread::sleep_for(200ms);  // connected, waiting for replies
            victim = workers.front();
            ::kill(victim, SIGKILL);
        });
    INFO("stdout: " << run.out);
    INFO("stderr: " << run.err);
    REQUIRE(victim != 0);
    CHECK_FALSE(run.timed_out);
    CHECK(run.exit_code == 1);
    check_json_only(run);
    CHECK(json_of(run).at("ok") == false);
    const std::string named = "(pid " + std::to_string(victim) + ",";
    CHECK(run.out.find(named) != std::string::npos);
    CHECK(run.out.find("killed by SIGKILL") != std::string::npos);
    CHECK(run.err.find("killed by SIGKILL") != std::string::npos);
    CHECK(number(run, "conns_requested") == 20);  // the dead worker's share still counts
    CHECK(number(run, "timeout", "errors") == 10);  // the survivor's, at the deadline
}

TEST_CASE("too few --workers for --conns under the per-process fd limit: exit 2, says how many") {
    const std::uint64_t hard = bounded_fd_limit();
    if (hard == 0) return;
    const std::uint64_t conns = hard * 3;  // 3 processes' worth: 4 workers needed
    const ToolRun run = run_tool(
        client_path(), {"--conns", std::to_string(conns), "--workers", "2", "--source-addrs", "8", "--port", "9"}, 10s);
    INFO("stderr: " << run.err);
    CHECK(run.exit_code == 2);
    CHECK(run.err.find("usage:") == std::string::npos);
    CHECK(run.err.find("needs at least --workers 4") != std::string::npos);
    // Without --workers the advice names the count too.
    const ToolRun alone =
        run_tool(client_path(), {"--conns", std::to_string(conns), "--source-addrs", "8", "--port", "9"}, 10s);
    CHECK(alone.exit_code == 2);
    CHECK(alone.err.find("--workers 4") != std::string::npos);
}
