// echo_server, started as a real process on the backend under test, driven over loopback.
#include <doctest/doctest.h>

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "common/process_stats.hpp"
#include "tests/examples/client.hpp"
#include "tests/examples/process.hpp"
#include "tests/support.hpp"

namespace iomux::test {
namespace {

using namespace std::chrono_literals;

ServerProcess start_echo(std::vector<std::string> args = {}, rlim_t fd_limit = 0) {
    return ServerProcess(example_path("ECHO_SERVER"), std::move(args), fd_limit);
}

void check_round_trip(std::uint16_t port) {
    UniqueFd sock = connect_to(port);
    send_all(sock.get(), "still there?");
    CHECK(recv_exact(sock.get(), 12) == "still there?");
}

}  // namespace

TEST_CASE("echo_server: echoes 1 MiB byte for byte") {
    ServerProcess server = start_echo();
    UniqueFd sock = connect_to(server.port());
    const std::string data = pattern(1 << 20, 1);
    CHECK(echo_through(sock.get(), data) == data);
    sock.reset();
    CHECK(server.terminate());
}

TEST_CASE("echo_server: a slow reader with 8 MiB outstanding loses nothing and costs no memory or CPU") {
    ServerProcess server = start_echo();
    // Small client buffers, so the bytes back up into the server instead of the kernel.
    UniqueFd sock = connect_to(server.port(), {.rcvbuf = 64 << 10, .sndbuf = 64 << 10});
    send_all(sock.get(), "warm up");
    REQUIRE(recv_exact(sock.get(), 7) == "warm up");
    const long rss_before = static_cast<long>(tools::rss_kib(server.pid()).value());

    constexpr std::size_t kTotal = 8 << 20;
    const std::string data = pattern(kTotal, 2);
    std::atomic<std::size_t> written{0};
    std::thread writer([&] {
        for (std::size_t at = 0; at < kTotal; at += 16 << 10) {
            send_all(sock.get(), std::string_view(data).substr(at, 16 << 10));
            written = at + (16 << 10);
        }
    });
    std::string back;
    try {
        // The client reads nothing for a while: the server must stop reading rather than
        // buffer, and must sleep rather than spin.
        std::this_thread::sleep_for(500ms);
        const double cpu_before = tools::cpu_seconds(server.pid()).value();
        std::this_thread::sleep_for(1s);
        const double cpu_stalled = tools::cpu_seconds(server.pid()).value() - cpu_before;
        const long rss_stalled = static_cast<long>(tools::rss_kib(server.pid()).value());
        MESSAGE("stalled with " << written.load() << " of " << kTotal << " bytes written; server used "
                                << cpu_stalled << " s CPU, RSS +" << rss_stalled - rss_before << " KiB");
        // The client has read nothing, so whatever it wrote sits in the kernel's socket
        // buffers or in the server. Loopback buffers may hold all 8 MiB (the writer then is
        // not blocked); either way the server's memory must not have grown with it.
        CHECK(cpu_stalled < 0.1);
        CHECK(rss_stalled - rss_before < 4096);

        // Now read, slowly, and check every byte.
        long rss_max = rss_stalled;
        for (int i = 0; back.size() < kTotal; ++i) {
            std::string chunk = recv_exact(sock.get(), std::min<std::size_t>(32 << 10, kTotal - back.size()));
            back += chunk;
            std::this_thread::sleep_for(1ms);
            if (i % 32 == 0) rss_max = std::max(rss_max, static_cast<long>(tools::rss_kib(server.pid()).value()));
        }
        CHECK(rss_max - rss_before < 4096);
    } catch (...) {
        ::shutdown(sock.get(), SHUT_RDWR);
        writer.join();
        throw;
    }
    writer.join();
    CHECK(back == data);
    sock.reset();
    CHECK(server.terminate());
}

TEST_CASE("echo_server: half-close: everything is echoed, then the server closes") {
    ServerProcess server = start_echo();
    UniqueFd sock = connect_to(server.port());
    const std::string data = pattern(300 << 10, 3);
    send_all(sock.get(), data);
    REQUIRE(::shutdown(sock.get(), SHUT_WR) == 0);
    CHECK(recv_all(sock.get()) == data);  // ends with EOF: the server closed after flushing
    sock.reset();
    CHECK(server.terminate());
}

TEST_CASE("echo_server: 200 clients resetting while the server keeps serving") {
    ServerProcess server = start_echo();
    const std::size_t baseline = tools::open_fds(server.pid());
    UniqueFd steady = connect_to(server.port());

    std::vector<UniqueFd> clients;
    for (int i = 0; i < 200; ++i) clients.push_back(connect_to(server.port()));
    // Each sends more than it will read back, so the server has echoes pending when the
    // reset lands: its reads fail with ECONNRESET and its writes with EPIPE.
    const std::string data = pattern(64 << 10, 4);
    for (UniqueFd& c : clients) send_all(c.get(), data);
    for (std::size_t i = 0; i < clients.size(); ++i) {
        close_with_reset(std::move(clients[i]));
        if (i % 50 == 0) {  // meanwhile, an established client is still served
            send_all(steady.get(), "ping");
            CHECK(recv_exact(steady.get(), 4) == "ping");
        }
    }
    check_round_trip(server.port());
    steady.reset();
    CHECK(eventually([&] { return tools::open_fds(server.pid()) == baseline; }));
    CHECK(server.terminate());
}

TEST_CASE("echo_server: 2000 connections opened and closed leave no fd behind") {
    raise_fd_limit();
    ServerProcess server = start_echo();
    const std::size_t baseline = tools::open_fds(server.pid());

    std::vector<UniqueFd> clients;
    for (int i = 0; i < 2000; ++i) clients.push_back(connect_to(server.port()));
    for (UniqueFd& c : clients) send_all(c.get(), "x");
    for (UniqueFd& c : clients) REQUIRE(recv_exact(c.get(), 1) == "x");
    CHECK(tools::open_fds(server.pid()) == baseline + 2000);

    clients.clear();
    CHECK(eventually([&] { return tools::open_fds(server.pid()) == baseline; }));
    check_round_trip(server.port());
    CHECK(server.terminate());
}

TEST_CASE("echo_server: an idle connection costs at most 1 KiB of server memory") {
    // The kernel's socket memory is not in the server's RSS; what is, per connection, is the
    // reactor's registration and the server's own record of it.
    constexpr int kConns = 4000;
    raise_fd_limit();
    ServerProcess server = start_echo();
    const std::size_t fds_before = tools::open_fds(server.pid());
    check_round_trip(server.port());  // warm: the read buffer and the first allocations
    REQUIRE(eventually([&] { return tools::open_fds(server.pid()) == fds_before; }));  // it closed
    const long rss_before = static_cast<long>(tools::rss_kib(server.pid()).value());

    std::vector<UniqueFd> clients;
    for (int i = 0; i < kConns; ++i) clients.push_back(connect_to(server.port()));
    REQUIRE(eventually([&] { return tools::open_fds(server.pid()) == fds_before + kConns; }));
    const long rss_after = static_cast<long>(tools::rss_kib(server.pid()).value());
    const double bytes_each = static_cast<double>(rss_after - rss_before) * 1024 / kConns;
    MESSAGE("server RSS " << rss_before << " KiB idle, " << rss_after << " KiB with " << kConns
                          << " idle connections: " << bytes_each << " bytes each");
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    MESSAGE("not checked: this build's sanitizer adds its own memory to every allocation");
#else
    CHECK(bytes_each <= 1024);
#endif
    clients.clear();
    CHECK(server.terminate());
}

TEST_CASE("echo_server: out of fds (EMFILE) it sheds connections, keeps serving and does not spin") {
    constexpr rlim_t kLimit = 64;
    ServerProcess server = start_echo({}, kLimit);
    const std::size_t baseline = tools::open_fds(server.pid());

    // More clients than the server has fds. Those it cannot serve must see their
    // connection end (EOF or reset), not hang in the backlog.
    std::vector<UniqueFd> served;
    int shed = 0;
    for (int i = 0; i < 100; ++i) {
        UniqueFd c = connect_to(server.port(), {.timeout = 5s});
        // Not send_all: the server may have shed this one already, and the send fail.
        ::send(c.get(), "x", 1, MSG_NOSIGNAL);
        std::string got;
        const Outcome outcome = try_recv(c.get(), got, 1);
        REQUIRE(outcome != Outcome::timeout);
        if (outcome == Outcome::data) {
            CHECK(got == "x");
            served.push_back(std::move(c));
        } else {
            ++shed;
        }
    }
    MESSAGE(served.size() << " clients served, " << shed << " shed, with RLIMIT_NOFILE " << kLimit);
    CHECK(served.size() >= kLimit - baseline - 2);
    CHECK(shed > 0);

    // At the limit, with connections still arriving, the server must not spin.
    const double cpu_before = tools::cpu_seconds(server.pid()).value();
    for (int i = 0; i < 20; ++i) {
        UniqueFd c = connect_to(server.port(), {.timeout = 5s});
        std::this_thread::sleep_for(50ms);
    }
    const double cpu_at_limit = tools::cpu_seconds(server.pid()).value() - cpu_before;
    MESSAGE("server CPU over 1 s at its fd limit: " << cpu_at_limit << " s");
    CHECK(cpu_at_limit < 0.1);

    // Established clients are still served; once they leave, new ones are served again.
    for (UniqueFd& c : served) {
        send_all(c.get(), "y");
        CHECK(recv_exact(c.get(), 1) == "y");
    }
    served.clear();
    CHECK(eventually([&] { return tools::open_fds(server.pid()) == baseline; }));
    check_round_trip(server.port());
    CHECK(server.terminate());
}

TEST_CASE("examples: --help exits 0, bad usage exits 2") {
    for (const char* env : {"ECHO_SERVER", "SELECT_QUEUE_SERVER", "HTTP_HELLO"}) {
        const std::string path = example_path(env);
        CAPTURE(path);
        const CommandResult help = run_command({path, "--help"});
        CHECK(help.status == 0);
        CHECK(help.output.find("--port") != std::string::npos);
        for (const auto& args : std::vector<std::vector<std::string>>{
                 {"--no-such-option"}, {"--port", "70000"}, {"--port"}, {"--backend", "no-such-backend"}}) {
            std::vector<std::string> argv{path};
            argv.insert(argv.end(), args.begin(), args.end());
            const CommandResult bad = run_command(argv);
            CAPTURE(bad.output);
            CHECK(bad.status == 2);
            CHECK(bad.output.find("--help") != std::string::npos);  // it says where to look
        }
    }
}

}  // namespace iomux::test
