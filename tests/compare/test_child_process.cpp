// tools/common's ChildProcess, which every tool and test uses to start servers and clients.
#include <csignal>

#include <doctest/doctest.h>

#include "common/child_process.hpp"

using iomux::tools::ChildProcess;
using iomux::tools::listening_port;
using iomux::tools::SpawnOptions;
using namespace std::chrono_literals;

namespace {
SpawnOptions shell_options(rlim_t fd_limit = 0) {
    SpawnOptions o;
    o.capture_stdout = true;
    o.search_path = true;
    o.fd_limit = fd_limit;
    return o;
}
}  // namespace

TEST_CASE("listening_port reads the line every server prints, and nothing else") {
    CHECK(listening_port("listening on 127.0.0.1:8080") == 8080);
    CHECK(listening_port("listening on [::1]:99") == 99);
    CHECK_FALSE(listening_port("listening on 127.0.0.1:0"));
    CHECK_FALSE(listening_port("listening on 127.0.0.1:65536"));
    CHECK_FALSE(listening_port("listening on 127.0.0.1:80abc"));
    CHECK_FALSE(listening_port("listening on 127.0.0.1"));
    CHECK_FALSE(listening_port("now listening on 127.0.0.1:80"));
}

TEST_CASE("a child's listening line is found past other output, and the child is reaped") {
    ChildProcess child({"sh", "-c", "echo starting; echo 'listening on 127.0.0.1:4242'; exec sleep 30"},
                       shell_options());
    std::string skipped;
    CHECK(child.read_listening_port(5s, &skipped) == 4242);
    CHECK(skipped == "starting\n");
    child.signal(SIGTERM);
    CHECK(child.wait(5s) == 128 + SIGTERM);
    CHECK_FALSE(child.running());
}

TEST_CASE("a child gets the fd limit asked for, default signal dispositions and no blocked signals") {
    // The test runner's own dispositions must not leak: an ignored SIGPIPE survives exec.
    struct sigaction ignore {}, old_pipe {};
    ignore.sa_handler = SIG_IGN;
    REQUIRE(::sigaction(SIGPIPE, &ignore, &old_pipe) == 0);
    sigset_t block, old_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    REQUIRE(::pthread_sigmask(SIG_BLOCK, &block, &old_mask) == 0);
    ChildProcess child({"sh", "-c", "ulimit -n; grep -E '^Sig(Ign|Blk)' /proc/self/status"},
                       shell_options(64));
    ::sigaction(SIGPIPE, &old_pipe, nullptr);
    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    const auto out = child.collect(10s);
    CHECK(child.wait(5s) == 0);
    CHECK(out.out == "64\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
}

TEST_CASE("a program that cannot be executed exits 127") {
    ChildProcess child({"/nonexistent/program"}, SpawnOptions{});
    CHECK(child.wait(5s) == 127);
}
