// tools/common's ChildProcess, which every tool and test uses to start servers and clients.
#include <sys/wait.h>

#include <csignal>
#include <optional>
#include <string>
#include <thread>

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

TEST_CASE("merge_stderr sends stderr down the stdout pipe, in the order written") {
    SpawnOptions options = shell_options();
    options.capture_stderr = true;  // ignored: merged wins
    options.merge_stderr = true;
    ChildProcess child({"sh", "-c", "echo one; echo two >&2; echo three"}, options);
    const auto out = child.collect(10s);
    CHECK(child.wait(5s) == 0);
    CHECK(out.out == "one\ntwo\nthree\n");
    CHECK(out.err.empty());
}

TEST_CASE("read_stderr waits for a string, then takes only what is there") {
    SpawnOptions options;
    options.capture_stderr = true;
    ChildProcess child(
        {"/bin/sh", "-c", "echo early >&2; sleep 0.2; echo 'ready now' >&2; sleep 1; echo late >&2; exec sleep 30"},
        options);
    std::string text;
    CHECK(child.read_stderr(&text, "ready", 10s));
    CHECK(text == "early\nready now\n");  // back before "late"
    // An empty `until` returns at once, the pipe still open.
    CHECK(child.read_stderr(&text, {}, 0ms));
    CHECK(text == "early\nready now\n");
    CHECK(child.read_stderr(&text, "late", 10s));
    CHECK(text == "early\nready now\nlate\n");
    // A string that never comes: back after the timeout with what there was.
    CHECK(child.read_stderr(&text, "never", 50ms));
    CHECK(text == "early\nready now\nlate\n");
    child.signal(SIGTERM);
    CHECK(child.wait(5s) == 128 + SIGTERM);
    CHECK_FALSE(child.read_stderr(&text, "never", 5s));  // EOF: the child is gone
}

TEST_CASE("poll_status does not wait: nullopt while the child runs, then its status, then -1") {
    ChildProcess child({"/bin/sh", "-c", "echo ready; sleep 2; exit 4"}, shell_options());
    CHECK(child.stdout_fd() >= 0);
    REQUIRE(child.read_line(5s) == std::optional<std::string>("ready"));
    CHECK_FALSE(child.poll_status().has_value());
    child.signal(SIGTERM);
    std::optional<int> status;
    for (int i = 0; i < 500 && !status; ++i) {
        status = child.poll_status();
        if (!status) std::this_thread::sleep_for(10ms);
    }
    REQUIRE(status.has_value());
    REQUIRE(WIFSIGNALED(*status));
    CHECK(WTERMSIG(*status) == SIGTERM);
    CHECK(child.poll_status() == std::optional<int>(-1));
    CHECK_FALSE(child.running());
}

TEST_CASE("wait_status gives the raw status, and -1 once there is nothing to wait for") {
    ChildProcess exits({"/bin/sh", "-c", "exit 3"}, SpawnOptions{});
    const int status = exits.wait_status(5s);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 3);
    CHECK(exits.wait_status(5s) == -1);
    CHECK(exits.wait(5s) == 255);

    ChildProcess killed({"/bin/sh", "-c", "kill -USR1 $$"}, SpawnOptions{});
    const int signaled = killed.wait_status(5s);
    REQUIRE(WIFSIGNALED(signaled));
    CHECK(WTERMSIG(signaled) == SIGUSR1);
}
