// iomux_compare run as users run it: its exit statuses, its JSON and CSV, its chart.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "common/child_process.hpp"
#include "poller/poller.hpp"
#include "run_program.hpp"

using compare_test::env;
using compare_test::run_compare;
using Json = nlohmann::json;

namespace {

Json parse_report(const compare_test::Ran& r) {
    INFO("stderr: " << r.err);
    REQUIRE(r.status == 0);
    return Json::parse(r.out);
}

// The rows of one workload whose figure `name` is positive, by backend.
std::multiset<std::string> rows_with_positive(const Json& report, std::string_view workload, const std::string& name) {
    std::multiset<std::string> backends;
    for (const Json& row : report.at("rows")) {
        if (row.at("workload") != workload || !row.at("figures").contains(name)) continue;
        const Json& f = row.at("figures").at(name);
        if (f.at("median") > 0 && f.at("min") > 0) backends.insert(row.at("backend").get<std::string>());
    }
    return backends;
}

// The peer libraries this build has, as iomux_compare reports them.
std::vector<std::string> built_peers(const Json& report) {
    std::vector<std::string> peers;
    const std::string v = report.at("machine").value("peers", "none built");
    if (v == "none built") return peers;
    std::string_view list = v;
    while (!list.empty()) {
        const auto comma = list.find(',');
        peers.emplace_back(list.substr(0, comma));
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    }
    return peers;
}

std::string temp_path(const char* stem) {
    return (std::filesystem::temp_directory_path() / fmt::format("{}_{}", stem, ::getpid())).string();
}

}  // namespace

TEST_CASE("dispatch --json: a row per backend and per N, plus bare-epoll and peers, all with positive times") {
    const auto r = run_compare({"dispatch", "--n", "100,200", "--repeat", "1", "--rounds", "3", "--json", "--quiet"});
    const Json report = parse_report(r);
    std::multiset<std::string> expected;
    for (int n = 0; n < 2; ++n) {
        expected.insert("bare-epoll");
        for (const std::string& b : iomux::backend_names()) expected.insert(b);
        for (const std::string& p : built_peers(report))
            if (p != "asio-io_uring") expected.insert(p);  // an echo server only
    }
    CHECK(rows_with_positive(report, "dispatch", "loop_us") == expected);
    CHECK(rows_with_positive(report, "dispatch", "total_us") == expected);
    CHECK(rows_with_positive(report, "dispatch", "readd_us") == expected);
    // Every row but bare-epoll's carries its ratio to bare-epoll.
    for (const Json& row : report.at("rows")) CHECK(row.at("figures").at("loop_us").at("ratio_to_bare").is_number());
}

TEST_CASE("the order of the backends turns each run, so that none always goes first") {
    const auto r = run_compare({"dispatch", "--n", "10", "--rounds", "1", "--repeat", "4", "--backends", "epoll,poll", "--no-peers"});
    REQUIRE(r.status == 0);
    std::vector<std::string> order;  // from the progress lines: "... dispatch N=10 run 2/4 poll"
    std::size_t at = 0;
    while ((at = r.err.find(" run ", at)) != std::string::npos) {
        const std::size_t name = r.err.find(' ', r.err.find('/', at)) + 1;
        order.push_back(r.err.substr(name, r.err.find('\n', name) - name));
        at = name;
    }
    CHECK(order == std::vector<std::string>{"bare-epoll", "epoll", "poll", "epoll", "poll", "bare-epoll",
                                            "poll", "bare-epoll", "epoll", "bare-epoll", "epoll", "poll"});
    // The table keeps the rows in the order asked.
    const std::size_t bare = r.out.find("\n  bare-epoll "), epoll = r.out.find("\n  epoll "), poll = r.out.find("\n  poll ");
    REQUIRE(poll != std::string::npos);
    CHECK(bare < epoll);
    CHECK(epoll < poll);
}

TEST_CASE("bad usage: a message, the usage text, exit status 2") {
    for (const std::vector<std::string>& args : {std::vector<std::string>{"bogus"}, {"--repeat", "0"}, {"--n", "abc"},
                                                {"--n"}, {"--json", "--csv"}, {"--active-share", "200%"}, {"--frobnicate"}}) {
        const auto r = run_compare(args);
        INFO("args: " << fmt::format("{}", fmt::join(args, " ")));
        CHECK(r.status == 2);
        CHECK(r.err.find("usage: iomux_compare") != std::string::npos);
        CHECK(r.out.empty());
    }
    const auto help = run_compare({"--help"});
    CHECK(help.status == 0);
    CHECK(help.out.find("usage: iomux_compare") != std::string::npos);
}

TEST_CASE("a backend this build lacks is reported and skipped") {
    const auto r = run_compare({"dispatch", "--backends", "epoll,kqueue", "--n", "100", "--repeat", "1", "--rounds", "1", "--json", "--quiet"});
    CHECK(r.err.find("kqueue") != std::string::npos);
    const Json report = parse_report(r);
    CHECK(rows_with_positive(report, "dispatch", "loop_us") == std::multiset<std::string>{"bare-epoll", "epoll"});
    bool noted = false;
    for (const Json& n : report.at("notes")) noted |= n.get<std::string>().find("kqueue") != std::string::npos;
    CHECK(noted);
}

TEST_CASE("--csv: a header and a line per row and figure") {
    const auto r = run_compare({"dispatch", "--backends", "poll", "--n", "100", "--repeat", "2", "--rounds", "1", "--csv", "--quiet"});
    REQUIRE(r.status == 0);
    CHECK(r.out.rfind("workload,case,backend,figure,label,median,min,max,runs,ratio_to_bare\n", 0) == 0);
    CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1 + 2 * 3);  // 2 rows x (loop, total, re-add)
    CHECK(r.out.find("dispatch,n=100 active=100 writes=1000,poll,loop_us,") != std::string::npos);
}

TEST_CASE("the table shows each figure and its ratio to bare-epoll") {
    const auto r = run_compare({"dispatch", "--backends", "select", "--n", "100", "--repeat", "1", "--rounds", "1", "--quiet"});
    REQUIRE(r.status == 0);
    CHECK(r.out.find("x bare") != std::string::npos);
    CHECK(r.out.find("bare-epoll") != std::string::npos);
    CHECK(r.out.find("select") != std::string::npos);
}

TEST_CASE("--plot draws an SVG when gnuplot is installed") {
    const std::string svg = temp_path("iomux_compare_test.svg");
    std::filesystem::remove(svg);
    const auto r = run_compare({"dispatch", "--n", "100,200", "--repeat", "1", "--rounds", "1", "--quiet", "--plot", svg});
    REQUIRE(r.status == 0);
    if (!iomux::tools::find_on_path("gnuplot")) {
        CHECK(r.err.find("gnuplot is not installed") != std::string::npos);
        MESSAGE("gnuplot not installed: the SVG check is skipped");
        return;
    }
    INFO("stderr: " << r.err);
    REQUIRE(std::filesystem::exists(svg));
    std::FILE* f = std::fopen(svg.c_str(), "r");
    REQUIRE(f);
    std::string text(1 << 20, '\0');
    text.resize(std::fread(text.data(), 1, text.size(), f));
    std::fclose(f);
    CHECK(text.find("<svg") < 512);
    // Every line's legend is the backend's name as it is: gnuplot's enhanced text would
    // turn the '_' of io_uring into a subscript, and a '-' name must survive too.
    for (const std::string& name : iomux::backend_names()) {
        INFO("backend " << name);
        CHECK(text.find(">" + name + "<") != std::string::npos);
    }
    std::filesystem::remove(svg);
}

TEST_CASE("echo and connect: short runs against the bare servers and epoll's") {
    // The stress client and echo server are found beside iomux_compare in the build tree.
    const auto r = run_compare({"echo", "connect", "--backends", "epoll", "--conns", "50", "--active-share", "all",
                                "--duration", "0.3", "--rate", "2000", "--open-conns", "50", "--connect-conns", "200",
                                "--repeat", "1", "--json", "--quiet"});
    if (r.status != 0 && r.out.find("no stress client") != std::string::npos) {
        MESSAGE("stress_client not built: echo/connect checks skipped");
        return;
    }
    const Json report = parse_report(r);
    // Two echo cases (closed, open) and the connect scenario, each with every server: the
    // bare io_uring one too wherever it can run, so that its row cannot vanish unnoticed.
    std::multiset<std::string> servers{"bare-epoll", "epoll"};
    if (const std::string why = compare_test::bare_uring_unavailable(); why.empty()) servers.insert("bare-io_uring");
    else MESSAGE("no bare-io_uring row expected: " << why);
    std::multiset<std::string> echo_rows = servers;
    echo_rows.insert(servers.begin(), servers.end());
    CHECK(rows_with_positive(report, "echo", "msgs_per_s") == echo_rows);
    CHECK(rows_with_positive(report, "echo", "server_peak_rss_mib").size() == echo_rows.size());
    CHECK(rows_with_positive(report, "connect", "wall_s") == servers);
}

TEST_CASE("peer echo servers (when built) echo what the stress client sends") {
    const auto probe = run_compare({"dispatch", "--n", "10", "--repeat", "1", "--rounds", "1", "--json", "--quiet", "--no-bare",
                                    "--backends", "poll"});
    const std::vector<std::string> peers = built_peers(parse_report(probe));
    if (peers.empty()) {
        MESSAGE("no peer library built: peer echo checks skipped");
        return;
    }
    std::string list;
    for (const std::string& p : peers) list += (list.empty() ? "" : ",") + p;
    const auto r = run_compare({"echo", "connect", "--backends", list, "--no-bare", "--conns", "20", "--active-share", "all",
                                "--duration", "0.2", "--rate", "0", "--connect-conns", "100", "--repeat", "1", "--json", "--quiet"});
    if (r.status != 0 && r.out.find("no stress client") != std::string::npos) {
        MESSAGE("stress_client not built: peer echo checks skipped");
        return;
    }
    const Json report = parse_report(r);
    const std::multiset<std::string> expected(peers.begin(), peers.end());
    CHECK(rows_with_positive(report, "echo", "msgs_per_s") == expected);
    CHECK(rows_with_positive(report, "connect", "wall_s") == expected);
}

TEST_CASE("scaling: one loop, loops on threads and pre-forked workers, each measured whole") {
    const auto r = run_compare({"scaling", "--backends", "epoll", "--no-peers", "--scaling-conns", "60", "--duration", "0.4",
                                "--repeat", "1", "--json", "--quiet"});
    const Json report = parse_report(r);
    const std::multiset<std::string> rows{"bare-epoll", "epoll", "epoll threads=2", "epoll workers=2"};
    CHECK(rows_with_positive(report, "scaling", "msgs_per_s") == rows);
    // The workers' parent only supervises: its CPU alone would be about 0. The figure must
    // count the workers (and every thread), as it does for the one-loop server.
    CHECK(rows_with_positive(report, "scaling", "server_traffic_cpu_s") == rows);
    double one_loop = 0, workers = 0;
    for (const Json& row : report.at("rows")) {
        const double cpu = row.at("figures").at("server_traffic_cpu_s").at("median");
        if (row.at("backend") == "epoll") one_loop = cpu;
        if (row.at("backend") == "epoll workers=2") workers = cpu;
    }
    CHECK(workers > 0.3 * one_loop);
}

TEST_CASE("instructions: exact counts that repeat from run to run, split into loop, callback and syscall wrappers") {
    if (!iomux::tools::find_on_path("valgrind")) {
        MESSAGE("valgrind not installed: the instructions workload is skipped");
        return;
    }
    const std::vector<std::string> args{"instructions", "--n", "100", "--writes", "200", "--backends", "epoll,libev",
                                        "--json", "--quiet"};
    const Json first = parse_report(run_compare(args)), second = parse_report(run_compare(args));
    std::multiset<std::string> expected{"bare-epoll", "epoll"};
    for (const std::string& p : built_peers(first))
        if (p == "libev") expected.insert(p);
    CHECK(rows_with_positive(first, "instructions", "total_instr") == expected);
    REQUIRE(first.at("rows").size() == second.at("rows").size());
    for (std::size_t i = 0; i < first.at("rows").size(); ++i) {
        const Json& a = first.at("rows").at(i).at("figures");
        const Json& b = second.at("rows").at(i).at("figures");
        CAPTURE(first.at("rows").at(i).at("backend"));
        for (const char* f : {"loop_instr", "callback_instr", "syscall_instr", "total_instr"})
            CHECK(a.at(f).at("median") == b.at(f).at("median"));
        CHECK(a.at("total_instr").at("median").get<double>() ==
              doctest::Approx(a.at("loop_instr").at("median").get<double>() + a.at("callback_instr").at("median").get<double>() +
                              a.at("syscall_instr").at("median").get<double>()));
        // Every loop here reads each byte with one recv and passes it on with one send.
        CHECK(a.at("syscall_instr").at("median") > 0);
    }
}
