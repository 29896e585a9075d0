// The stress client against servers it did not write, in every protocol, from outside:
// redis-server (--request / --expect), nginx and http_hello (--protocol http), a few
// thousand connections each, both modes; a wrong --expect against each fails with the
// right kind; hold mode; results saved by separate runs merged exactly; bad protocol
// options refused. Run once (epoll: select cannot hold thousands of fds), not per backend:
// the protocols are above the event loop.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "client_checks.hpp"
#include "fake_server.hpp"
#include "histogram.hpp"
#include "protocol.hpp"
#include "real_server.hpp"
#include "result_codec.hpp"
#include "run_tool.hpp"
#include "tests/support.hpp"

using namespace stress_test;
using namespace std::chrono_literals;

namespace {

const std::string kConns = "3000";
const std::string kPage = "<html>hello from nginx</html>\n";

void check_all_ok(const ToolRun& run, double conns, double replies) {
    check_passes(run, conns);
    CHECK(number(run, "messages_verified") == replies);
}

std::string read_file(const std::string& path) {
    std::ifstream f(path);
    std::ostringstream text;
    text << f.rdbuf();
    return text.str();
}

}  // namespace

TEST_CASE("redis-server: PING / PONG on 3000 connections, both modes; a wrong --expect is a mismatch") {
    iomux::test::raise_fd_limit();
    RealServer redis = RealServer::redis();
    const std::vector<std::string> ping{"--request", "PING\\r\\n", "--expect", "+PONG\\r\\n"};
    std::vector<std::string> args{"--conns", kConns};
    args.insert(args.end(), ping.begin(), ping.end());
    const ToolRun scenario = run_client(redis.port(), args);
    INFO(redis.logs());
    check_all_ok(scenario, 3000, 9000);
    CHECK(json_of(scenario).at("protocol") == "expect");

    args.insert(args.end(), {"--active", "100", "--depth", "4", "--duration", "0.5"});
    const ToolRun sustained = run_client(redis.port(), args);
    check_passes(sustained, 3000);
    CHECK(number(sustained, "messages", "sustained") > 100);

    const ToolRun wrong = run_client(redis.port(), {"--conns", kConns, "--request", "PING\\r\\n", "--expect", "+PANG\\r\\n"});
    check_fails_with(wrong, "mismatch", 3000);
    CHECK(json_of(wrong).at("first_errors").at("mismatch").get<std::string>().find("reply 1 differs at byte 2: 'O', expected 'A'") !=
          std::string::npos);
}

TEST_CASE("nginx: HTTP on 3000 connections, both modes, bodies checked; keep-alive ends reconnected") {
    iomux::test::raise_fd_limit();
    // keepalive_requests 3: nginx ends each connection after 3 responses, some with
    // pipelined requests unanswered, which must be sent again on a new connection.
    // /chunked: the page with a word replaced, so nginx cannot know its length: chunked.
    RealServer nginx = RealServer::nginx(kPage, "keepalive_requests 3; location = /chunked { rewrite ^ /index.html "
                                                "break; sub_filter hello HELLO; sub_filter_types *; }");
    INFO(nginx.logs());
    const std::vector<std::string> http{"--protocol", "http", "--path", "/index.html", "--expect", kPage};
    std::vector<std::string> args{"--conns", kConns};
    args.insert(args.end(), http.begin(), http.end());
    const ToolRun scenario = run_client(nginx.port(), args);
    check_all_ok(scenario, 3000, 9000);
    CHECK(number(scenario, "200", "http_status") == 9000);

    args = {"--conns", "200", "--depth", "4", "--duration", "0.5"};
    args.insert(args.end(), http.begin(), http.end());
    const ToolRun sustained = run_client(nginx.port(), args);
    check_passes(sustained, 200);
    CHECK(number(sustained, "reconnects") > 0);
    CHECK(number(sustained, "200", "http_status") == number(sustained, "messages_verified"));

    // "Connection: close": nginx ends every connection after its response, so each round
    // after the first finds its connection ended and must make it again.
    const ToolRun closing = run_client(nginx.port(), {"--conns", "500", "--protocol", "http", "--path", "/index.html",
                                                      "--header", "Connection: close", "--expect", kPage});
    check_all_ok(closing, 500, 1500);
    CHECK(number(closing, "reconnects") == 1000);

    const ToolRun chunked = run_client(nginx.port(), {"--conns", "200", "--protocol", "http", "--path", "/chunked",
                                                      "--expect", "<html>HELLO from nginx</html>\n", "--depth", "4",
                                                      "--duration", "0.5"});
    check_passes(chunked, 200);
    CHECK(number(chunked, "messages", "sustained") > 100);

    args = {"--conns", kConns, "--protocol", "http", "--path", "/index.html", "--expect", "<html>hello from apache"};
    check_fails_with(run_client(nginx.port(), args), "mismatch", 3000);
    const ToolRun missing = run_client(nginx.port(), {"--conns", "100", "--protocol", "http", "--path", "/nope"});
    check_fails_with(missing, "bad_status", 100);
    CHECK(number(missing, "404", "http_status") == 100);
    // The same 404 passes when it is what was asked for.
    check_passes(run_client(nginx.port(), {"--conns", "100", "--protocol", "http", "--path", "/nope", "--expect-status", "404"}), 100);
}

TEST_CASE("http_hello: HTTP on 3000 connections, both modes; a wrong --expect is a mismatch") {
    iomux::test::raise_fd_limit();
    RealServer hello = RealServer::http_hello();
    check_all_ok(run_client(hello.port(), {"--conns", kConns, "--protocol", "http"}), 3000, 9000);
    const ToolRun piped = run_client(hello.port(), {"--conns", "100", "--protocol", "http", "--depth", "8", "--rate", "5000",
                                                    "--duration", "0.5"});
    check_passes(piped, 100);
    CHECK(number(piped, "messages", "sustained") > 1000);
    check_fails_with(run_client(hello.port(), {"--conns", kConns, "--protocol", "http", "--expect", "Hello"}), "mismatch",
                     3000);
}

TEST_CASE("hold: connections opened at --connect-rate and kept; a server that drops them fails the run") {
    iomux::test::raise_fd_limit();
    FakeServer server(Behavior::silent);
    const ToolRun held = run_client(server.port(), {"--hold", "--conns", "2000", "--connect-rate", "8000", "--duration", "0.5"});
    check_passes(held, 2000);
    CHECK(json_of(held).at("mode") == "hold");
    CHECK(number(held, "count", "connect_latency_us") == 2000);
    CHECK(number(held, "connect_wall_s") >= 0.2);  // 2000 at 8000/s: a quarter of a second
    CHECK(json_of(held).at("stages").at(1).at("done") == 2000);

    // nginx ends a connection that sends no request within client_header_timeout.
    RealServer nginx = RealServer::nginx(kPage, "client_header_timeout 1s;");
    const ToolRun dropped = run_client(nginx.port(), {"--hold", "--conns", "500", "--duration", "2.5"});
    check_fails_with(dropped, "closed", 500);
}

TEST_CASE("merge: two separate runs merged are one run over the union of their samples") {
    iomux::test::raise_fd_limit();
    FakeServer server(Behavior::echo);
    const std::string dir = std::filesystem::temp_directory_path() / ("stress_merge." + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string a = dir + "/a.json", b = dir + "/b.json", m = dir + "/m.json", other = dir + "/other.json";
    check_passes(run_client(server.port(), {"--conns", "300", "--result-file", a}), 300);
    check_passes(run_client(server.port(), {"--conns", "200", "--result-file", b}), 200);
    const ToolRun merged = run_tool(client_path(), {"merge", "--json", "--result-file", m, a, b}, 10s);
    check_passes(merged, 500);
    CHECK(number(merged, "messages_verified") == 1500);

    // The merged histogram is the histogram of every sample of both runs, bucket by bucket.
    const stress::WorkerReport ra = stress::decode(read_file(a)), rb = stress::decode(read_file(b)),
                               rm = stress::decode(read_file(m));
    stress::LatencyHistogram both = ra.run.latency;
    both.merge(rb.run.latency);
    CHECK(rm.run.latency.nonempty() == both.nonempty());
    CHECK(rm.run.latency.count() == 1500);
    CHECK(rm.run.connect_latency.count() == 500);
    for (const auto& [p, key] : {std::pair{50.0, "p50"}, {99.0, "p99"}, {99.9, "p999"}})
        CHECK(number(merged, key, "latency_us") == doctest::Approx(both.percentile(p) / 1e3));

    // Another scenario (sustained) does not merge: exit 2, saying why.
    check_passes(run_client(server.port(), {"--conns", "10", "--duration", "0.2", "--result-file", other}), 10);
    const ToolRun refused = run_tool(client_path(), {"merge", a, other}, 10s);
    CHECK(refused.exit_code == 2);
    CHECK(refused.err.find("another scenario") != std::string::npos);
    CHECK(run_tool(client_path(), {"merge"}, 10s).exit_code == 2);
    CHECK(run_tool(client_path(), {"merge", dir + "/none.json"}, 10s).exit_code == 2);
    std::filesystem::remove_all(dir);
}

TEST_CASE("replies split anywhere: every split point of a reply stream gives the same replies") {
    auto replies_split_at = [](stress::Protocol& proto, const std::string& stream, std::size_t k, std::uint32_t asked) {
        stress::ConnStream at{1000, 0, asked, 0};
        stress::ReplyError error;
        for (const std::string_view piece : {std::string_view(stream).substr(0, k), std::string_view(stream).substr(k)}) {
            const std::int64_t n = proto.check(0, at, {piece.data(), piece.size()}, true, &error);
            INFO("split at " << k << ": " << error.detail);
            REQUIRE(n >= 0);
            at.received += piece.size();
            at.answered += static_cast<std::uint32_t>(n);
        }
        CHECK_FALSE(proto.mid_reply(0, at));
        return at.answered;
    };
    stress::ProtocolSpec http;
    http.kind = stress::ProtocolSpec::Kind::http;
    http.request = "GET / HTTP/1.1\r\n\r\n";
    http.expect = "hello";
    const std::string responses =
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Long-Header: " + std::string(100, 'x') + "\r\n\r\nhello"
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        "2\r\nhe\r\n3;ext=1\r\nllo\r\n0\r\nTrailer: t\r\n\r\n"
        "HTTP/1.1 204 No Content\r\n\r\n";
    for (std::size_t k = 0; k <= responses.size(); ++k) {
        const auto proto = stress::make_http(http, 1);
        CHECK(replies_split_at(*proto, responses, k, 3) == 3);
        CHECK(proto->statuses() == std::map<std::string, std::uint64_t>{{"200", 2}, {"204", 1}});
    }
    stress::ProtocolSpec redis;
    redis.kind = stress::ProtocolSpec::Kind::expect;
    redis.request = "PING\r\n";
    redis.expect = "+PONG\r\n";
    for (std::size_t k = 0; k <= 21; ++k)
        CHECK(replies_split_at(*stress::make_expect(redis), "+PONG\r\n+PONG\r\n+PONG\r\n", k, 3) == 3);
}

TEST_CASE("bad protocol options exit 2 with the reason") {
    const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
        {{"--request", "PING\\q", "--expect", "x"}, "bad escape"},
        {{"--request", "PING\\x4"}, "go together"},
        {{"--expect", "x"}, "go together"},
        {{"--protocol", "http", "--request", "GET /"}, "makes its own requests"},
        {{"--method", "POST"}, "goes with --protocol http"},
        {{"--protocol", "http", "--expect-status", "7xx"}, "statuses are 100 to 599"},
        {{"--protocol", "http", "--header", "nocolon"}, "NAME: VALUE"},
        {{"--request", "@/nonexistent/file", "--expect", "x"}, "cannot read"},
        {{"--hold", "--depth", "2"}, "--hold keeps the connections idle"},
        {{"--protocol", "http", "--msg-size", "10"}, "echo's message size"},
    };
    for (const auto& [args, why] : bad) {
        const ToolRun run = run_tool(client_path(), args, 10s);
        INFO("args: " << args.front() << " " << args.back());
        INFO("stderr: " << run.err);
        CHECK(run.exit_code == 2);
        CHECK(run.err.find(why) != std::string::npos);
    }
}
