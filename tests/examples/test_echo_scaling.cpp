// echo_server --threads and --workers: several loops, several processes, one port.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <map>
#include <sstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "poller/poller.hpp"

#include "tests/examples/client.hpp"
#include "tests/examples/process.hpp"

namespace iomux::test {
namespace {

using namespace std::chrono_literals;

constexpr int kClients = 40;

ServerProcess start_echo(std::vector<std::string> args) {
    args.push_back("--stats");
    return ServerProcess(example_path("ECHO_SERVER"), std::move(args), 0, /*capture_stderr=*/true);
}

// kClients connections at once, each echoing its own 64 KiB, every byte checked. With
// SO_REUSEPORT the kernel spreads them over the loops by a hash of the client's port.
void echo_many(std::uint16_t port) {
    std::vector<UniqueFd> socks;
    for (int i = 0; i < kClients; ++i) socks.push_back(connect_to(port));
    for (int i = 0; i < kClients; ++i) {
        const std::string data = pattern(64 << 10, static_cast<std::uint32_t>(100 + i));
        REQUIRE(echo_through(socks[static_cast<std::size_t>(i)].get(), data) == data);
    }
}

// The "accepted" counts of the --stats lines, by the label before them ("loop 1",
// "worker 0 loop 0").
std::map<std::string, int> accepted_by_loop(const std::string& stats) {
    static const std::regex line("echo_server: ((?:worker \\d+ )?loop \\d+): (\\d+) connections accepted");
    std::map<std::string, int> counts;
    for (std::sregex_iterator it(stats.begin(), stats.end(), line), end; it != end; ++it)
        counts[(*it)[1]] = std::stoi((*it)[2]);
    return counts;
}

// echo_many, then SIGTERM: the server must exit 0, and its loops together must have
// accepted each connection once. Returns the count of each loop.
std::map<std::string, int> serve_and_stop(ServerProcess& server) {
    echo_many(server.port());
    CHECK(server.terminate());
    const std::string stats = server.stderr_text();
    CAPTURE(stats);
    const auto counts = accepted_by_loop(stats);
    int total = 0;
    for (const auto& [label, n] : counts) total += n;
    CHECK(total == kClients);
    // Each loop says how its transports move bytes: completions only on io_uring.
    const std::string backend = default_backend();
    const std::regex path(backend == "io_uring" ? "(completion|readiness) I/O on io_uring\n" : "readiness I/O on " + backend + "\n");
    const auto paths = std::distance(std::sregex_iterator(stats.begin(), stats.end(), path), std::sregex_iterator());
    CHECK(paths == static_cast<long>(counts.size()));
    return counts;
}

// Listening TCP sockets on 127.0.0.1:port, from /proc/net/tcp.
int listeners_on(std::uint16_t port) {
    std::ifstream in("/proc/net/tcp");
    const std::string local = fmt::format("0100007F:{:04X}", port);
    int n = 0;
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string slot, address, remote, state;
        fields >> slot >> address >> remote >> state;
        n += address == local && state == "0A";  // TCP_LISTEN
    }
    return n;
}

// Every one of them has ended: gone, or a zombie waiting for PID 1.
bool all_ended(const std::vector<pid_t>& pids) {
    for (pid_t pid : pids)
        if (process_alive(pid)) return false;
    return true;
}

// The times the server's processes were woken (voluntary context switches, every thread).
long wakeups(pid_t server) {
    long total = 0;
    std::vector<pid_t> pids = child_pids(server);
    pids.push_back(server);
    for (pid_t pid : pids) {
        std::ifstream status(fmt::format("/proc/{}/status", pid));
        for (std::string line; std::getline(status, line);)
            if (line.rfind("voluntary_ctxt_switches:", 0) == 0) total += std::stol(line.substr(24));
    }
    return total;
}

// Server wake-ups per connection when `conns` clients connect one after another, each
// echoing one byte. Each process's main thread is its loop (no --threads here).
double wakeups_per_connection(std::vector<std::string> args, int conns) {
    ServerProcess server = start_echo(std::move(args));
    REQUIRE(child_pids(server.pid()).size() == 4);
    std::this_thread::sleep_for(100ms);  // the workers settle in their waits
    const long before = wakeups(server.pid());
    for (int i = 0; i < conns; ++i) {
        UniqueFd sock = connect_to(server.port());
        REQUIRE(echo_through(sock.get(), "x") == "x");
        std::this_thread::sleep_for(1ms);  // every loop back in its wait: the herd's worst case
    }
    const long after = wakeups(server.pid());
    CHECK(server.terminate());
    const auto counts = accepted_by_loop(server.stderr_text());
    int total = 0;
    for (const auto& [label, n] : counts) total += n;
    CHECK(total == conns);
    return static_cast<double>(after - before) / conns;
}

}  // namespace

TEST_CASE("echo_server --threads 2: every byte echoed, and both loops accept") {
    ServerProcess server = start_echo({"--threads", "2"});
    const auto counts = serve_and_stop(server);
    REQUIRE(counts.size() == 2);
    CHECK(counts.at("loop 0") > 0);  // all 40 on one loop: a chance of 2^-39
    CHECK(counts.at("loop 1") > 0);
}

TEST_CASE("echo_server --threads 2 --shared-listener: every byte echoed, every connection accepted once") {
    // Both loops wake for each connection and race to accept it: which one wins is not
    // predictable, so only the total is checked.
    ServerProcess server = start_echo({"--threads", "2", "--shared-listener"});
    CHECK(serve_and_stop(server).size() == 2);
}

TEST_CASE("echo_server --workers 4 --shared-listener --exclusive: a connection wakes one worker, not all four") {
    // EPOLLEXCLUSIVE: on epoll a connection wakes one waiting worker; without it, all four
    // (measured: 5.0 wake-ups per connection, against 1.1). Other backends have no such
    // thing: --exclusive changes nothing there, and every connection is still served.
    constexpr int kConns = 150;
    const double herd = wakeups_per_connection({"--workers", "4", "--shared-listener"}, kConns);
    const double exclusive = wakeups_per_connection({"--workers", "4", "--shared-listener", "--exclusive"}, kConns);
    MESSAGE(fmt::format("server wake-ups per connection: shared {:.2f}, shared and exclusive {:.2f}", herd, exclusive));
    const std::string backend = iomux::default_backend();
    if (backend == "epoll" || backend == "epoll-et") {
        CHECK(herd > 2.5);
        CHECK(exclusive < 0.7 * herd);
    }
}

TEST_CASE("echo_server --workers 2: every byte echoed, both workers accept, SIGTERM ends them all") {
    ServerProcess server = start_echo({"--workers", "2"});
    const std::vector<pid_t> workers = child_pids(server.pid());
    REQUIRE(workers.size() == 2);
    const auto counts = serve_and_stop(server);
    CHECK(all_ended(workers));  // the parent waited for them: no orphans
    REQUIRE(counts.size() == 2);
    CHECK(counts.at("worker 0 loop 0") > 0);
    CHECK(counts.at("worker 1 loop 0") > 0);
}

TEST_CASE("echo_server --workers 2 --threads 2: four loops in two processes") {
    ServerProcess server = start_echo({"--workers", "2", "--threads", "2"});
    CHECK(serve_and_stop(server).size() == 4);
}

TEST_CASE("echo_server --workers 2: a killed worker is reported, the other serves on, the exit status says so") {
    ServerProcess server = start_echo({"--workers", "2"});
    const std::vector<pid_t> workers = child_pids(server.pid());
    REQUIRE(workers.size() == 2);
    REQUIRE(::kill(workers[0], SIGKILL) == 0);
    const std::string report = fmt::format("worker 0 (pid {}) was killed by signal {}", workers[0], SIGKILL);
    CHECK(server.stderr_text(report, 10s).find(report) != std::string::npos);
    // The dead worker's socket closes with it, and new connections all go to the other one.
    // Closing may lag the process's end: io_uring releases the files its requests hold
    // from a kernel work queue, after the parent has reaped the worker.
    CHECK(eventually([&] { return listeners_on(server.port()) == 1; }));
    echo_many(server.port());
    CHECK_FALSE(server.terminate());
    CHECK(WIFEXITED(server.status()));
    CHECK(WEXITSTATUS(server.status()) == 1);
    CHECK(all_ended(workers));
}

TEST_CASE("echo_server --workers 3: killing the parent with SIGKILL takes its workers with it") {
    ServerProcess server = start_echo({"--workers", "3"});
    const std::vector<pid_t> workers = child_pids(server.pid());
    REQUIRE(workers.size() == 3);
    CHECK_FALSE(server.terminate(SIGKILL));
    CHECK(eventually([&] { return all_ended(workers); }, 5s));  // PR_SET_PDEATHSIG
}

TEST_CASE("echo_server --max-conns: says how many workers the fd limit needs, and refuses too few") {
    // A small limit, so the count needs several workers. The numbers come from the server:
    // it must accept the count it names and refuse one fewer.
    constexpr rlim_t kLimit = 1000;
    const std::string path = example_path("ECHO_SERVER");
    const CommandResult plan = run_command({path, "--max-conns", "2500", "--workers", "1"}, 20s, kLimit);
    CAPTURE(plan.output);
    CHECK(plan.status == 2);
    std::smatch m;
    REQUIRE(std::regex_search(plan.output, m, std::regex("run with --workers (\\d+) or more")));
    const int needed = std::stoi(m[1]);
    CHECK(needed >= 3);  // 2500 connections under 1000 fds a process

    const CommandResult fewer = run_command({path, "--max-conns", "2500", "--workers", std::to_string(needed - 1)}, 20s, kLimit);
    CHECK(fewer.status == 2);
    ServerProcess enough(path, {"--max-conns", "2500", "--workers", std::to_string(needed)}, kLimit, true);
    CHECK(enough.stderr_text(fmt::format("need {} workers", needed), 5s).find("RLIMIT_NOFILE is 1000") != std::string::npos);
    {
        UniqueFd sock = connect_to(enough.port());
        send_all(sock.get(), "planned");
        CHECK(recv_exact(sock.get(), 7) == "planned");
    }
    CHECK(enough.terminate());
}

TEST_CASE("echo_server: --threads 0, --workers 0, --max-conns 0 and --exclusive alone are bad usage") {
    const std::string path = example_path("ECHO_SERVER");
    for (const char* option : {"--threads", "--workers", "--max-conns"}) {
        const CommandResult bad = run_command({path, option, "0"});
        CAPTURE(bad.output);
        CHECK(bad.status == 2);
        CHECK(bad.output.find(option) != std::string::npos);
    }
    const CommandResult alone = run_command({path, "--exclusive"});
    CAPTURE(alone.output);
    CHECK(alone.status == 2);
    CHECK(alone.output.find("--exclusive needs --shared-listener") != std::string::npos);
}

}  // namespace iomux::test
