// The stress client, from outside: its exit status and its JSON, against the project's
// echo server and against fake servers that fail in one known way each. Run once per
// backend (IOMUX_BACKEND), which the client's own loop and the spawned server both use.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "client_checks.hpp"
#include "fake_server.hpp"
#include "histogram.hpp"
#include "poller/poller.hpp"
#include "run_tool.hpp"
#include "tests/support.hpp"

using namespace stress_test;
using namespace std::chrono_literals;

TEST_CASE("the material's scenario against the project's echo server, spawned by the client") {
    const std::string server = env("ECHO_SERVER");
    if (server.empty()) {
        MESSAGE("ECHO_SERVER not set (examples/echo_server not built): covered by the fake echo server case");
        return;
    }
    const ToolRun run = run_tool(client_path(), {"--spawn-server", backend(), "--server-path", server, "--backend",
                                                 backend(), "--conns", "200", "--json"});
    check_passes(run, 200);
    CHECK(number(run, "messages_verified") == 600);
    CHECK(number(run, "bytes_verified") == 200 * 46);  // the three messages are 46 bytes
    CHECK(number(run, "cpu_s", "server") >= 0);
    CHECK(number(run, "peak_rss_kib", "server") > 0);
    CHECK(json_of(run).at("server").at("exit_clean") == true);
}

TEST_CASE("the material's scenario against a well-behaved fake echo server") {
    iomux::test::raise_fd_limit();
    FakeServer server(Behavior::echo);
    const ToolRun run = run_client(server.port(), {"--conns", "200"});
    check_passes(run, 200);
    CHECK(number(run, "messages_verified") == 600);
    CHECK(number(run, "count", "latency_us") == 600);
    CHECK(number(run, "wall_s") > 0);
    CHECK(number(run, "connect_wall_s") > 0);
    CHECK(number(run, "client_cpu_s") >= 0);
    CHECK(server.accepted() == 200);
}

TEST_CASE("every handshake awaited in the reactor (--connect-via-reactor)") {
    // On loopback connect() usually completes at once and the TCP_INFO shortcut takes it;
    // this is the path a remote server takes: writability, then SO_ERROR.
    FakeServer server(Behavior::echo);
    const ToolRun run = run_client(server.port(), {"--conns", "200", "--connect-via-reactor", "--connect-window", "16"});
    check_passes(run, 200);
    DeadPort dead;
    const ToolRun refused =
        run_client(dead.port(), {"--conns", "20", "--connect-via-reactor", "--connect-attempts", "2"});
    check_fails_with(refused, "connect_refused", 20);
}

TEST_CASE("messages larger than the socket buffers: partial writes and reads, verified") {
    FakeServer server(Behavior::echo);
    const ToolRun run = run_client(server.port(), {"--conns", "4", "--active", "4", "--msg-size", "300000", "--depth",
                                                   "2", "--duration", "0.5"});
    check_passes(run, 4);
    CHECK(number(run, "messages", "sustained") > 0);
    CHECK(number(run, "bytes_verified") == number(run, "bytes_sent"));
    CHECK(number(run, "bytes_verified") >= 300000 * number(run, "messages_verified"));
}

TEST_CASE("connections spread over source addresses (--source-addrs)") {
    FakeServer server(Behavior::echo);
    const ToolRun run = run_client(server.port(), {"--conns", "100", "--source-addrs", "4"});
    check_passes(run, 100);
    CHECK(number(run, "source_addrs") == 4);
}

TEST_CASE("a server that drops one byte in the middle of a reply: mismatch") {
    FakeServer server(Behavior::drop_middle_byte);
    const ToolRun run = run_client(server.port(), {"--conns", "50", "--timeout", "5"});
    check_fails_with(run, "mismatch");
    CHECK(number(run, "mismatch", "errors") == 1);
    CHECK(number(run, "conns_made") == 50);
    CHECK(run.wall_s < 4);  // found on arrival, not at the deadline
}

TEST_CASE("a server that drops the last byte of a reply: short reply at the deadline") {
    FakeServer server(Behavior::drop_last_byte);
    const ToolRun run = run_client(server.port(), {"--conns", "50", "--timeout", "1"});
    check_fails_with(run, "short_reply");
    CHECK(number(run, "short_reply", "errors") == 1);
    CHECK(run.wall_s < 10);
}

TEST_CASE("a server that resets connections: reset, counted, the rest verified") {
    FakeServer server(Behavior::reset_some);
    const ToolRun run = run_client(server.port(), {"--conns", "200", "--timeout", "10"});
    check_fails_with(run, "reset");
    CHECK(number(run, "reset", "errors") == 50);  // every 4th of 200
    CHECK(number(run, "conns_made") == 200);
    // The other 150 got all three replies, verified.
    CHECK(number(run, "messages_verified") == 150 * 3);
}

TEST_CASE("a server that never answers: timeout, and the client does not hang") {
    FakeServer server(Behavior::silent);
    const ToolRun run = run_client(server.port(), {"--conns", "50", "--timeout", "1"}, 15s);
    check_fails_with(run, "timeout", 50);
    CHECK(run.wall_s < 10);
}

TEST_CASE("nothing listening: connection refused, said plainly, and quickly") {
    DeadPort dead;
    const ToolRun run = run_client(dead.port(), {"--conns", "50", "--connect-attempts", "3", "--timeout", "20"});
    check_fails_with(run, "connect_refused", 50);
    CHECK(number(run, "conns_made") == 0);
    CHECK(run.out.find("nothing accepts connections") != std::string::npos);
    CHECK(run.err.find("nothing accepts connections") != std::string::npos);
    CHECK(run.wall_s < 10);  // gave up after the retries, not at the deadline
}

TEST_CASE("sustained mode: some connections active, the rest idle; figures reported") {
    const std::string server = env("ECHO_SERVER");
    std::optional<FakeServer> fake;
    std::vector<std::string> args{"--conns", "100", "--active", "10", "--msg-size", "100", "--depth", "4",
                                  "--duration", "1"};
    ToolRun run;
    if (server.empty()) {
        fake.emplace(Behavior::echo);
        run = run_client(fake->port(), args);
    } else {
        args.insert(args.end(), {"--spawn-server", backend(), "--server-path", server, "--backend", backend(), "--json"});
        run = run_tool(client_path(), args);
    }
    check_passes(run, 100);
    CHECK(json_of(run).at("mode") == "sustained");
    CHECK(number(run, "active", "sustained") == 10);
    CHECK(number(run, "messages", "sustained") > 100);
    CHECK(number(run, "msgs_per_s", "sustained") > 100);
    CHECK(number(run, "mb_per_s", "sustained") > 0);
    const double p50 = number(run, "p50", "latency_us"), p99 = number(run, "p99", "latency_us"),
                 p999 = number(run, "p999", "latency_us");
    CHECK(p50 > 0);
    CHECK(p99 >= p50);
    CHECK(p999 >= p99);
    // The window is --duration, give or take a loaded machine's timer latency.
    CHECK(number(run, "window_s", "sustained") >= 0.99);
    CHECK(number(run, "window_s", "sustained") < 2.0);
}

TEST_CASE("sustained mode, open loop: --rate offers a fixed load") {
    FakeServer server(Behavior::echo);
    // Room for 160 in flight, far more than 2000/s needs even at a loaded machine's RTTs.
    const ToolRun run = run_client(
        server.port(), {"--conns", "20", "--active", "20", "--depth", "8", "--rate", "2000", "--duration", "0.5"});
    check_passes(run, 20);
    // 2000/s over the window (0.5 s, or a little more if the stop timer ran late): the
    // server's speed does not matter, the schedule does.
    const double window = number(run, "window_s", "sustained");
    CHECK(number(run, "messages", "sustained") == doctest::Approx(2000 * window).epsilon(0.1));
    CHECK(number(run, "rate_backlog", "sustained") == 0);
    CHECK(number(run, "rate", "sustained") == 2000);
}

TEST_CASE("bad usage exits 2 with the usage text") {
    const std::vector<std::vector<std::string>> bad = {
        {"--conns"},
        {"--conns", "abc"},
        {"--conns", "0"},
        {"--bogus"},
        {"--port", "70000"},
        {"--active", "5", "--conns", "2"},
        {"--mode", "scenario", "--depth", "2"},
        {"--mode", "fast"},
        {"--backend", "nosuch"},
        {"--duration", "5", "--timeout", "2"},
        {"--spawn-server", "epoll", "--port", "9"},
        {"--host", "not-an-address"},
        {"--json=yes"},
    };
    for (const auto& args : bad) {
        const ToolRun run = run_tool(client_path(), args, 10s);
        INFO("args: " << doctest::toString(args.front()) << " ... (" << args.size() << " args)");
        INFO("stderr: " << run.err);
        CHECK(run.exit_code == 2);
        CHECK(run.err.find("usage: stress_client") != std::string::npos);
    }
    const ToolRun help = run_tool(client_path(), {"--help"}, 10s);
    CHECK(help.exit_code == 0);
    CHECK(help.out.find("usage: stress_client") != std::string::npos);
}

TEST_CASE("more connections than the open-file limit allows: says so plainly, exit 2") {
    // One more than the hard limit (20000 here, and not raisable even by root).
    const std::uint64_t hard = bounded_fd_limit();
    if (hard == 0) return;
    const std::string conns = std::to_string(hard + 1);
    const ToolRun run = run_tool(client_path(), {"--conns", conns, "--source-addrs", "254", "--port", "9"}, 10s);
    INFO("stderr: " << run.err);
    CHECK(run.err.find("usage:") == std::string::npos);
    CHECK(run.exit_code == 2);
    CHECK(run.err.find("open files") != std::string::npos);
    CHECK(run.err.find("What to do") != std::string::npos);
}

TEST_CASE("more connections than the ephemeral port range without --source-addrs: exit 2, with the way out") {
    const ToolRun run = run_tool(client_path(), {"--conns", "10000000", "--port", "9"}, 10s);
    INFO("stderr: " << run.err);
    CHECK(run.exit_code == 2);
    // Either limit may be the first one hit, depending on the machine.
    CHECK((run.err.find("--source-addrs") != std::string::npos || run.err.find("open files") != std::string::npos));
}

TEST_CASE("an echo server binary that is not there: a clear error, exit 1") {
    const ToolRun run = run_tool(client_path(), {"--spawn-server", "epoll", "--server-path", "/nonexistent/echo_server"}, 10s);
    INFO("stderr: " << run.err);
    CHECK(run.exit_code == 1);
    CHECK(run.err.find("/nonexistent/echo_server") != std::string::npos);
}

TEST_CASE("a spawned server that exits, or says something else, before its listening line: a clear error, exit 1") {
    const ToolRun exits = run_tool(client_path(), {"--spawn-server", "epoll", "--server-path", "/bin/true"}, 10s);
    INFO("stderr: " << exits.err);
    CHECK(exits.exit_code == 1);
    CHECK(exits.err.find("did not say where it listens (exited with status 0)") != std::string::npos);
    // /bin/echo prints its arguments: "--backend epoll --port 0".
    const ToolRun talks = run_tool(client_path(), {"--spawn-server", "epoll", "--server-path", "/bin/echo"}, 10s);
    INFO("stderr: " << talks.err);
    CHECK(talks.exit_code == 1);
    CHECK(talks.err.find("said '--backend epoll --port 0', not 'listening on HOST:PORT'") != std::string::npos);
}

TEST_CASE("latency histogram: buckets within 1/64 of the value, percentiles in order") {
    using stress::LatencyHistogram;
    for (std::int64_t v : {0LL, 1LL, 127LL, 128LL, 1000LL, 123456789LL, 1LL << 40, (1LL << 62) + 12345}) {
        const std::size_t b = LatencyHistogram::bucket_of(v);
        const std::int64_t top = LatencyHistogram::bucket_top(b);
        CHECK(top >= v);
        CHECK(static_cast<double>(top - v) <= static_cast<double>(v) / 64.0 + 1);
        if (b > 0) CHECK(LatencyHistogram::bucket_top(b - 1) < v);
    }
    LatencyHistogram h;
    for (std::int64_t i = 1; i <= 100000; ++i) h.record(i * 1000);  // 1 us .. 100 ms
    CHECK(h.count() == 100000);
    CHECK(h.percentile(50) == doctest::Approx(50e6).epsilon(0.02));
    CHECK(h.percentile(99) == doctest::Approx(99e6).epsilon(0.02));
    CHECK(h.percentile(99.9) == doctest::Approx(99.9e6).epsilon(0.02));
    CHECK(h.percentile(100) == 100'000'000);
    CHECK(h.min() == 1000);
    CHECK(h.mean() == doctest::Approx(50.0005e6));
}
