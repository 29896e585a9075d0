// Conformance tests of the raw Poller interface (poller/poller.hpp), on the backend named by
// IOMUX_BACKEND: meson runs this program once per backend. Each case holds a backend to one
// sentence of the contract in poller.hpp; the Selector-level port of CPython's
// test_selectors.py is in test_selector.cpp.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "poller/errors.hpp"
#include "poller/poller.hpp"
#include "poller/unique_fd.hpp"
#include "tests/support.hpp"
#include "tests/test_helpers.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using iomux::EVENT_READ;
using iomux::EVENT_WRITE;
using iomux::PollEvent;
using iomux::Poller;
using iomux::Timeout;
using iomux::UniqueFd;
using iomux::test::socket_pair;
using iomux::test::SocketPair;
using iomux::test::AlarmGuard;
using iomux::test::errno_thrown;
using iomux::test::FdLimitGuard;
using iomux::test::ms_since;
using iomux::test::send_all;
using iomux::test::SignalFreeThread;
using iomux::test::fd_is_open;

constexpr std::uint32_t kBoth = EVENT_READ | EVENT_WRITE;

std::unique_ptr<Poller> make() { return iomux::make_poller(iomux::test::backend()); }

// One wait, checked against the invariants every wait must keep whatever the test is about:
// at most one entry per fd, events never 0 and never an unknown bit.
std::vector<PollEvent> wait_for(Poller& p, Timeout timeout, std::size_t room = 64) {
    std::vector<PollEvent> out(room, PollEvent{-1, 0});
    const std::size_t n = p.wait(out, timeout);
    REQUIRE(n <= room);
    out.resize(n);
    std::set<int> seen;
    for (const PollEvent& e : out) {
        INFO(fmt::format("fd {} events {}", e.fd, e.events));
        CHECK(seen.insert(e.fd).second);
        CHECK(e.events != 0);
        CHECK((e.events & ~kBoth) == 0);
    }
    return out;
}

std::map<int, std::uint32_t> by_fd(const std::vector<PollEvent>& events) {
    std::map<int, std::uint32_t> m;
    for (const PollEvent& e : events) m[e.fd] = e.events;
    return m;
}

std::string show(const std::vector<PollEvent>& events) {
    std::string s;
    for (const PollEvent& e : events) s += fmt::format("({}, {}) ", e.fd, e.events);
    return s.empty() ? "(none)" : s;
}

constexpr int kNoFilter = 77;

// Runs in a forked child: makes io_uring_setup fail with EPERM through a seccomp filter, as
// kernel.io_uring_disabled=2 would, then checks what the library says. Returns 0, the
// number of the check that failed, or kNoFilter.
int io_uring_refused_check() {
#if defined(__x86_64__)
    constexpr std::uint32_t kArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
    constexpr std::uint32_t kArch = AUDIT_ARCH_AARCH64;
#else
    return kNoFilter;
#endif
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kArch, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(std::size(filter)), filter};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
        return 1;
    try {
        iomux::make_poller("io_uring");
        return 2;
    } catch (const std::system_error& e) {
        if (e.code().value() != EPERM) return 3;
        if (std::string_view(e.what()).find("kernel.io_uring_disabled") == std::string_view::npos) return 4;
    } catch (...) {
        return 5;
    }
    const auto available = iomux::available_backends();
    const auto has = [&](std::string_view name) { return std::find(available.begin(), available.end(), name) != available.end(); };
    if (has("io_uring")) return 6;
    if (!has("epoll") || !has("poll") || !has("select")) return 7;
    return 0;
}

// How many of two Pollers, each blocked in wait() on its own thread with fd added with
// wakeup, report it when it becomes readable. Nobody reads it, so on a level-triggered
// backend every Poller that was woken reports it.
int pollers_woken(iomux::Wakeup wakeup) {
    SocketPair sp = socket_pair();
    std::atomic<int> woken{0}, failed{0};
    std::atomic<pid_t> tids[2] = {0, 0};
    const auto waiter = [&](int i) {
        try {
            auto p = make();
            p->add(sp.a.get(), EVENT_READ, wakeup);
            tids[i] = static_cast<pid_t>(::syscall(SYS_gettid));
            std::vector<PollEvent> out(4);
            if (p->wait(out, 600ms) > 0) ++woken;
        } catch (...) {
            ++failed;
        }
    };
    // A thread blocked in its wait sleeps (state S); the byte must come after both are.
    const auto sleeping = [](pid_t tid) {
        std::ifstream file(fmt::format("/proc/self/task/{}/stat", tid));
        const std::string stat((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
        const auto paren = stat.rfind(')');
        return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'S';
    };
    std::thread t0(waiter, 0), t1(waiter, 1);
    const auto give_up = Clock::now() + 2s;
    while (Clock::now() < give_up && !(tids[0] && tids[1] && sleeping(tids[0]) && sleeping(tids[1])))
        std::this_thread::sleep_for(1ms);
    send_all(sp.b.get(), "x");
    t0.join();
    t1.join();
    REQUIRE(failed == 0);
    return woken;
}

}  // namespace

TEST_SUITE("poller") {

TEST_CASE("make_poller builds the backend under test, with its name and traits") {
    const std::string name = iomux::test::backend();
    auto p = make();
    CHECK(p->name() == name);
    CHECK(p->edge_triggered() == (name == "epoll-et"));
    if (name == "epoll" || name == "epoll-et") {
        CHECK(p->fileno() >= 0);
        CHECK(fd_is_open(p->fileno()));
    } else {
        CHECK(p->fileno() == -1);
    }
    const auto names = iomux::backend_names();
    CHECK(std::find(names.begin(), names.end(), name) != names.end());
    CHECK_THROWS_AS(iomux::make_poller("no-such-backend"), iomux::ValueError);
}

TEST_CASE("add, modify and remove change what wait reports") {
    SocketPair sp = socket_pair();
    auto p = make();
    send_all(sp.b.get(), "x");  // a is readable and writable from here on

    p->add(sp.a.get(), EVENT_READ);
    auto got = wait_for(*p, 100ms);
    INFO("after add(READ): ", show(got));
    CHECK(by_fd(got) == std::map<int, std::uint32_t>{{sp.a.get(), EVENT_READ}});

    p->modify(sp.a.get(), EVENT_WRITE);
    got = wait_for(*p, 100ms);
    INFO("after modify(WRITE): ", show(got));
    CHECK(by_fd(got) == std::map<int, std::uint32_t>{{sp.a.get(), EVENT_WRITE}});

    p->modify(sp.a.get(), kBoth);
    got = wait_for(*p, 100ms);
    INFO("after modify(READ|WRITE): ", show(got));
    CHECK(by_fd(got) == std::map<int, std::uint32_t>{{sp.a.get(), kBoth}});

    p->remove(sp.a.get());
    got = wait_for(*p, 0ns);
    INFO("after remove: ", show(got));
    CHECK(got.empty());

    // Removed means forgotten: adding it again is not EEXIST.
    CHECK(errno_thrown([&] { p->add(sp.a.get(), EVENT_READ); }) == 0);
    got = wait_for(*p, 100ms);
    CHECK(by_fd(got) == std::map<int, std::uint32_t>{{sp.a.get(), EVENT_READ}});
}

TEST_CASE("adding an fd twice is EEXIST and keeps the first registration") {
    SocketPair sp = socket_pair();
    auto p = make();
    p->add(sp.a.get(), EVENT_READ);
    CHECK(errno_thrown([&] { p->add(sp.a.get(), EVENT_READ); }) == EEXIST);
    CHECK(errno_thrown([&] { p->add(sp.a.get(), EVENT_WRITE); }) == EEXIST);

    // Still READ only: a fresh socket is writable, so WRITE would show up if the failed
    // add(WRITE) had leaked into the interest set.
    CHECK(wait_for(*p, 0ns).empty());
    send_all(sp.b.get(), "x");
    const auto got = wait_for(*p, 100ms);
    INFO(show(got));
    CHECK(by_fd(got) == std::map<int, std::uint32_t>{{sp.a.get(), EVENT_READ}});
}

TEST_CASE("modifying an fd that was never added, or was removed, is ENOENT") {
    SocketPair sp = socket_pair();
    auto p = make();
    CHECK(errno_thrown([&] { p->modify(sp.a.get(), EVENT_READ); }) == ENOENT);
    p->add(sp.a.get(), EVENT_READ);
    p->remove(sp.a.get());
    CHECK(errno_thrown([&] { p->modify(sp.a.get(), EVENT_WRITE); }) == ENOENT);
    // ...and the failed modify did not register it.
    CHECK(wait_for(*p, 0ns).empty());
}

TEST_CASE("negative fds and bad event masks are ValueError, and change nothing") {
    SocketPair sp = socket_pair();
    auto p = make();
    CHECK_THROWS_AS(p->add(-1, EVENT_READ), iomux::ValueError);
    CHECK_THROWS_AS(p->add(-10, EVENT_READ), iomux::ValueError);
    CHECK_THROWS_AS(p->add(sp.a.get(), 0), iomux::ValueError);
    CHECK_THROWS_AS(p->add(sp.a.get(), 4), iomux::ValueError);
    CHECK_THROWS_AS(p->add(sp.a.get(), EVENT_READ | 8), iomux::ValueError);
    CHECK_THROWS_AS(p->add(sp.a.get(), 999999), iomux::ValueError);
    // Nothing was registered by the failed adds: a fresh socket is writable, and no fd shows.
    CHECK(wait_for(*p, 0ns).empty());

    p->add(sp.a.get(), EVENT_READ);
    CHECK_THROWS_AS(p->modify(sp.a.get(), 0), iomux::ValueError);
    CHECK_THROWS_AS(p->modify(sp.a.get(), EVENT_WRITE | 4), iomux::ValueError);
    CHECK_THROWS_AS(p->modify(-1, EVENT_READ), iomux::ValueError);
    // Still registered, still for READ only.
    CHECK(wait_for(*p, 0ns).empty());
    send_all(sp.b.get(), "x");
    const auto got = wait_for(*p, 100ms);
    INFO(show(got));
    CHECK(by_fd(got) == std::map<int, std::uint32_t>{{sp.a.get(), EVENT_READ}});
}

TEST_CASE("remove tolerates an fd that was never added, or is closed, and leaves others alone") {
    SocketPair keep = socket_pair();
    auto p = make();
    p->add(keep.a.get(), EVENT_WRITE);
    p->remove(999999);
    p->remove(keep.b.get());  // open but never added
    int closed_number = -1;
    {
        SocketPair gone = socket_pair();
        closed_number = gone.a.get();
        p->add(closed_number, EVENT_READ);
    }
    p->remove(closed_number);
    p->remove(closed_number);  // twice
    const auto got = wait_for(*p, 100ms);
    INFO(show(got));
    CHECK(by_fd(got) == std::map<int, std::uint32_t>{{keep.a.get(), EVENT_WRITE}});
}

TEST_CASE("an fd number closed and reused after remove() is a new fd to the poller") {
    auto p = make();
    SocketPair old_pair = socket_pair();
    const int number = old_pair.a.get();
    p->add(number, EVENT_READ);
    SocketPair new_pair = socket_pair();
    old_pair.a.reset();  // closed while registered, then removed: the documented order is
    p->remove(number);   // remove-then-close, but remove must tolerate this order too
    REQUIRE(::dup2(new_pair.a.get(), number) == number);
    UniqueFd reused(number);

    // The old registration is gone entirely: no EEXIST, no stale interest, no stale event.
    CHECK(errno_thrown([&] { p->add(number, EVENT_READ); }) == 0);
    CHECK(wait_for(*p, 0ns).empty());
    send_all(new_pair.b.get(), "x");
    const auto got = wait_for(*p, 100ms);
    INFO(show(got));
    CHECK(by_fd(got) == std::map<int, std::uint32_t>{{number, EVENT_READ}});
    p->remove(number);
}

TEST_CASE("a closed fd left registered is dropped by epoll and reported ready by poll and select") {
    const std::string name = iomux::test::backend();
    auto p = make();
    int number = -1;
    {
        SocketPair gone = socket_pair();
        number = gone.a.get();
        p->add(number, EVENT_READ);
    }
    REQUIRE_FALSE(fd_is_open(number));  // nothing may reopen the number before remove()
    const auto got = wait_for(*p, 0ns);
    INFO(show(got));
    if (name == "epoll" || name == "epoll-et") {
        CHECK(got.empty());
    } else {
        CHECK(by_fd(got) == std::map<int, std::uint32_t>{{number, EVENT_READ}});
    }
    p->remove(number);
    CHECK(wait_for(*p, 0ns).empty());
}

TEST_CASE("wait fills at most out.size() entries and the fds that did not fit come next") {
    // 10 ready fds and room for 3: four waits must between them see all 10. A backend that
    // always restarts its scan at the same place starves the fds after the first 3.
    constexpr std::size_t kReady = 10, kRoom = 3;
    std::vector<SocketPair> pairs;
    auto p = make();
    std::set<int> readers;
    for (std::size_t i = 0; i < kReady; ++i) {
        pairs.push_back(socket_pair());
        send_all(pairs.back().b.get(), "x");
        p->add(pairs.back().a.get(), EVENT_READ);
        readers.insert(pairs.back().a.get());
    }

    std::set<int> seen;
    std::size_t entries = 0;
    for (int round = 0; round < 4; ++round) {
        const auto got = wait_for(*p, 100ms, kRoom);
        INFO(fmt::format("round {}: {}", round, show(got)));
        CHECK(!got.empty());
        for (const PollEvent& e : got) {
            CHECK(readers.count(e.fd) == 1);
            CHECK(e.events == EVENT_READ);
            seen.insert(e.fd);
        }
        entries += got.size();
        if (p->edge_triggered()) {
            // Each fd has one edge, so the entries left to report are kReady - entries.
            CHECK(got.size() == std::min(kRoom, kReady - (entries - got.size())));
        } else {
            CHECK(got.size() == kRoom);  // all 10 stay ready, so every wait fills the buffer
        }
    }
    CHECK(seen.size() == kReady);
    if (p->edge_triggered()) {
        CHECK(entries == kReady);  // once per edge
        CHECK(wait_for(*p, 0ns).empty());
    }
}

TEST_CASE("one entry per fd carries both bits") {
    SocketPair sp = socket_pair();
    auto p = make();
    send_all(sp.b.get(), "foo");
    p->add(sp.a.get(), kBoth);
    const auto got = wait_for(*p, 100ms);
    INFO(show(got));
    REQUIRE(got.size() == 1);
    CHECK(got[0].fd == sp.a.get());
    CHECK(got[0].events == kBoth);
}

TEST_CASE("only registered bits are reported") {
    SocketPair with_data = socket_pair(), idle = socket_pair();
    auto p = make();
    send_all(with_data.b.get(), "x");
    p->add(with_data.a.get(), EVENT_WRITE);  // readable too, but only WRITE was asked for
    p->add(idle.a.get(), EVENT_READ);        // writable, but only READ was asked for
    const auto got = wait_for(*p, 100ms);
    INFO(show(got));
    CHECK(by_fd(got) == std::map<int, std::uint32_t>{{with_data.a.get(), EVENT_WRITE}});
}

TEST_CASE("a peer that closes is reported readable, and writable if registered for write") {
    SocketPair r_only = socket_pair(), both = socket_pair(), w_only = socket_pair();
    auto p = make();
    p->add(r_only.a.get(), EVENT_READ);
    p->add(both.a.get(), kBoth);
    // Both ends registered with nothing to say until the peer goes away.
    CHECK(by_fd(wait_for(*p, 0ns)) == std::map<int, std::uint32_t>{{both.a.get(), EVENT_WRITE}});
    r_only.b.reset();
    both.b.reset();
    w_only.b.reset();
    p->add(w_only.a.get(), EVENT_WRITE);
    const auto got = wait_for(*p, 100ms);
    INFO(show(got));
    CHECK(by_fd(got) == std::map<int, std::uint32_t>{
                            {r_only.a.get(), EVENT_READ}, {both.a.get(), kBoth}, {w_only.a.get(), EVENT_WRITE}});
}

TEST_CASE("an error condition alone is reported as the registered events") {
    // The write end of a pipe whose reader is gone reports only ERR (no IN: it is a write
    // end), so the fd is reported READ only if ERR counts as readiness (Python's mapping).
    int fds[2];
    REQUIRE(::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0);
    UniqueFd read_end(fds[0]), write_end(fds[1]);
    auto p = make();
    p->add(write_end.get(), EVENT_READ);
    CHECK(wait_for(*p, 0ns).empty());
    read_end.reset();
    const auto got = wait_for(*p, 100ms);
    INFO(show(got));
    CHECK(by_fd(got) == std::map<int, std::uint32_t>{{write_end.get(), EVENT_READ}});
}

TEST_CASE("timeout zero returns at once") {
    SocketPair sp = socket_pair();
    auto p = make();
    p->add(sp.a.get(), EVENT_READ);
    const auto t0 = Clock::now();
    for (int i = 0; i < 100; ++i) REQUIRE(wait_for(*p, 0ns).empty());
    const double ms = ms_since(t0);
    INFO(fmt::format("100 waits took {:.2f} ms", ms));
    CHECK(ms < 100.0);
}

TEST_CASE("a positive timeout is rounded up to the backend's resolution, never down") {
    // poll and epoll have 1 ms resolution; select has 1 us. Rounding down or to nearest
    // would make 0.5 ms wait 0 ms (a busy loop) and 1.001 ms wait 1 ms (early).
    SocketPair sp = socket_pair();
    auto p = make();
    p->add(sp.a.get(), EVENT_READ);
    const bool ms_resolution = p->name() != "select";
    for (const Timeout t : {Timeout(1ns), Timeout(1us), Timeout(100us), Timeout(999us), Timeout(1001us), Timeout(1500us)}) {
        const Timeout floor = ms_resolution ? Timeout(std::chrono::ceil<std::chrono::milliseconds>(t)) : t;
        const auto t0 = Clock::now();
        const std::size_t n = wait_for(*p, t).size();
        const auto elapsed = Clock::now() - t0;
        INFO(fmt::format("timeout {} ns waited {} ns, expected at least {} ns", t.count(),
                         std::chrono::duration_cast<Timeout>(elapsed).count(), floor.count()));
        CHECK(n == 0);
        CHECK(elapsed >= floor);
    }
}

TEST_CASE("a 0.1 ms timeout waits at least 0.1 ms and does not spin") {
    SocketPair sp = socket_pair();
    auto p = make();
    p->add(sp.a.get(), EVENT_READ);
    int iterations = 0, short_waits = 0, reports = 0;
    const auto t0 = Clock::now();
    // A spinning wait(100us) does tens of thousands of iterations in 20 ms; the cap bounds
    // the loop even then. select's 1 us resolution gives ~100-200, poll/epoll's 1 ms ~20.
    while (Clock::now() - t0 < 20ms && iterations < 100000) {
        const auto t = Clock::now();
        reports += static_cast<int>(wait_for(*p, 100us).size());
        if (Clock::now() - t < 100us) ++short_waits;
        ++iterations;
    }
    INFO(fmt::format("{} iterations in 20 ms, {} shorter than 0.1 ms", iterations, short_waits));
    CHECK(reports == 0);
    CHECK(short_waits == 0);
    CHECK(iterations < 400);
}

TEST_CASE("an empty poller waits for its timeout (bpo-23009)") {
    auto p = make();
    const auto t0 = Clock::now();
    const auto got = wait_for(*p, 200ms);
    const double ms = ms_since(t0);
    INFO(fmt::format("waited {:.1f} ms", ms));
    CHECK(got.empty());
    CHECK(ms >= 200.0);
    CHECK(ms < 2000.0);
    // ...and polls at once with timeout 0.
    const auto t1 = Clock::now();
    CHECK(wait_for(*p, 0ns).empty());
    CHECK(ms_since(t1) < 50.0);
}

TEST_CASE("a signal does not end a wait early (PEP 475)") {
    SocketPair sp = socket_pair();
    auto p = make();
    p->add(sp.a.get(), EVENT_READ);
    // Sixteen alarms 50 ms apart: the wait is interrupted about six times and must resume
    // each time with what is left. Restarting with the full 300 ms would take >= 1100 ms.
    AlarmGuard alarm(50ms, 50ms, 16);
    const auto t0 = Clock::now();
    const std::size_t n = wait_for(*p, 300ms).size();
    const double ms = ms_since(t0);
    INFO(fmt::format("wait(300 ms) took {:.1f} ms with {} alarms", ms, AlarmGuard::count()));
    CHECK(AlarmGuard::count() >= 1);
    CHECK(n == 0);
    CHECK(ms >= 299.0);
    CHECK(ms < 900.0);
}

TEST_CASE("a blocking wait interrupted by signals keeps blocking until an fd is ready") {
    SocketPair sp = socket_pair();
    auto p = make();
    p->add(sp.a.get(), EVENT_READ);
    AlarmGuard alarm(50ms, 50ms, 4);
    const auto t0 = Clock::now();
    SignalFreeThread writer([fd = sp.b.get()] {
        std::this_thread::sleep_for(400ms);
        ::send(fd, "x", 1, MSG_NOSIGNAL);
    });
    const auto got = wait_for(*p, iomux::kBlock);
    const double ms = ms_since(t0);
    INFO(fmt::format("blocking wait took {:.1f} ms with {} alarms: {}", ms, AlarmGuard::count(), show(got)));
    CHECK(AlarmGuard::count() >= 1);
    CHECK(by_fd(got) == std::map<int, std::uint32_t>{{sp.a.get(), EVENT_READ}});
    CHECK(ms >= 390.0);
}

TEST_CASE("a huge timeout waits like a blocking one, even across signals") {
    // Timeout::max() must not overflow a deadline computation or a rounding step: either
    // would turn it into an immediate return or an EINVAL.
    SocketPair sp = socket_pair();
    auto p = make();
    p->add(sp.a.get(), EVENT_READ);
    AlarmGuard alarm(50ms, 50ms, 2);
    const auto t0 = Clock::now();
    SignalFreeThread writer([fd = sp.b.get()] {
        std::this_thread::sleep_for(300ms);
        ::send(fd, "x", 1, MSG_NOSIGNAL);
    });
    std::vector<PollEvent> got;
    CHECK_NOTHROW(got = wait_for(*p, Timeout::max()));
    const double ms = ms_since(t0);
    INFO(fmt::format("wait(Timeout::max()) took {:.1f} ms with {} alarms: {}", ms, AlarmGuard::count(), show(got)));
    CHECK(by_fd(got) == std::map<int, std::uint32_t>{{sp.a.get(), EVENT_READ}});
    CHECK(ms >= 290.0);
}

TEST_CASE("on_interrupt runs at each interruption, and what it throws ends the wait") {
    // How the Python module runs Python's signal handlers during a wait (PyErr_CheckSignals).
    SocketPair sp = socket_pair();
    auto p = make();
    p->add(sp.a.get(), EVENT_READ);
    std::vector<PollEvent> out(8);
    {
        AlarmGuard alarm(50ms, 50ms, 4);
        int calls = 0;
        const auto t0 = Clock::now();
        CHECK(p->wait(out, 300ms, [&] { ++calls; }) == 0);
        INFO(fmt::format("{} calls for {} alarms", calls, AlarmGuard::count()));
        CHECK(calls >= 1);
        CHECK(ms_since(t0) >= 299.0);  // returning: the wait went on with the time left
    }
    {
        struct Interrupted {};
        AlarmGuard alarm(50ms, 50ms, 1);
        const auto t0 = Clock::now();
        CHECK_THROWS_AS(p->wait(out, iomux::kBlock, [] { throw Interrupted{}; }), Interrupted);
        CHECK(ms_since(t0) < 2000.0);
    }
    // The poller is as it was: the fd is still watched.
    ::send(sp.b.get(), "x", 1, MSG_NOSIGNAL);
    CHECK(by_fd(wait_for(*p, 1s)) == std::map<int, std::uint32_t>{{sp.a.get(), EVENT_READ}});
}

TEST_CASE("edge-triggered backends report unread data once; level-triggered ones on every wait") {
    SocketPair sp = socket_pair();
    auto p = make();
    p->add(sp.a.get(), EVENT_READ);
    const std::map<int, std::uint32_t> readable{{sp.a.get(), EVENT_READ}};
    const bool et = p->edge_triggered();

    send_all(sp.b.get(), "one");
    CHECK(by_fd(wait_for(*p, 100ms)) == readable);
    // Not read: a level-triggered backend says so again, an edge-triggered one stays quiet.
    const auto again = wait_for(*p, 0ns);
    INFO("second wait: ", show(again));
    if (et) {
        CHECK(again.empty());
        CHECK(wait_for(*p, 20ms).empty());
    } else {
        CHECK(by_fd(again) == readable);
    }

    // New data is a new edge, still without reading anything.
    send_all(sp.b.get(), "two");
    CHECK(by_fd(wait_for(*p, 100ms)) == readable);
    const auto after = wait_for(*p, 0ns);
    INFO("after the second edge: ", show(after));
    if (et) {
        CHECK(after.empty());
    } else {
        CHECK(by_fd(after) == readable);
    }
}

TEST_CASE("fds above FD_SETSIZE are watched on every backend, select included") {
    constexpr std::size_t kPairs = 1500;  // 3000 fds: well past FD_SETSIZE (1024) and 2048
    FdLimitGuard restore_limit;
    const rlim_t limit = iomux::test::raise_fd_limit();
    REQUIRE_MESSAGE(limit >= 2 * kPairs + 64, fmt::format("RLIMIT_NOFILE hard limit {} is too low", limit));

    std::vector<SocketPair> pairs;
    pairs.reserve(kPairs);
    for (std::size_t i = 0; i < kPairs; ++i) pairs.push_back(socket_pair());
    auto p = make();
    std::set<int> readers, writers;
    for (const SocketPair& sp : pairs) {
        p->add(sp.a.get(), EVENT_READ);
        p->add(sp.b.get(), EVENT_WRITE);
        readers.insert(sp.a.get());
        writers.insert(sp.b.get());
    }
    REQUIRE(*writers.rbegin() > FD_SETSIZE);

    std::vector<PollEvent> out(2 * kPairs + 16);
    std::size_t n = p->wait(out, 1s);
    CHECK(n == kPairs);
    std::size_t writers_seen = 0, wrong = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (writers.count(out[i].fd) && out[i].events == EVENT_WRITE)
            ++writers_seen;
        else
            ++wrong;
    }
    CHECK(writers_seen == kPairs);
    CHECK(wrong == 0);

    const int high_reader = *readers.rbegin();
    REQUIRE(high_reader > 2048);
    const auto it = std::find_if(pairs.begin(), pairs.end(), [&](const SocketPair& sp) { return sp.a.get() == high_reader; });
    REQUIRE(it != pairs.end());
    send_all(it->b.get(), "x");
    n = p->wait(out, 1s);
    std::size_t high_seen = 0, other_readers = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (out[i].fd == high_reader && out[i].events == EVENT_READ) ++high_seen;
        else if (readers.count(out[i].fd)) ++other_readers;
    }
    INFO(fmt::format("reader fd {}; second wait returned {} entries", high_reader, n));
    CHECK(high_seen == 1);
    CHECK(other_readers == 0);
    if (!p->edge_triggered()) CHECK(n == kPairs + 1);  // the writers are still writable

    for (const SocketPair& sp : pairs) {
        p->remove(sp.a.get());
        p->remove(sp.b.get());
    }
    CHECK(p->wait(out, 0ns) == 0);
}

TEST_CASE("an fd ready but not drained is reported by every wait, blocking or not") {
    SocketPair sp = socket_pair();
    auto p = make();
    p->add(sp.a.get(), EVENT_READ);
    send_all(sp.b.get(), "x");
    const std::map<int, std::uint32_t> readable{{sp.a.get(), EVENT_READ}};
    CHECK(by_fd(wait_for(*p, iomux::kBlock)) == readable);
    if (p->edge_triggered()) {
        CHECK(wait_for(*p, 20ms).empty());
        return;
    }
    // Backends that see wake-ups, not levels (io_uring), must re-check what they reported.
    for (int i = 0; i < 3; ++i) {
        INFO("blocking wait ", i);
        CHECK(by_fd(wait_for(*p, iomux::kBlock)) == readable);
    }
    CHECK(by_fd(wait_for(*p, 0ns)) == readable);
    CHECK(by_fd(wait_for(*p, 50ms)) == readable);
}

TEST_CASE("an fd drained after it became ready is not reported by the next wait") {
    // epoll, poll and select look at the fd during the wait. A backend that is told of
    // wake-ups as they happen (io_uring) must not report one the caller has since undone.
    SocketPair sp = socket_pair();
    auto p = make();
    p->add(sp.a.get(), EVENT_READ);
    CHECK(wait_for(*p, 0ns).empty());
    char buf[16];
    for (int round = 0; round < 3; ++round) {
        INFO("round ", round);
        send_all(sp.b.get(), "data");
        REQUIRE(::recv(sp.a.get(), buf, sizeof buf, 0) == 4);  // drained before the wait
        const auto got = wait_for(*p, 0ns);
        INFO(show(got));
        CHECK(got.empty());
    }
    // ...and one that is ready again after being reported and drained is reported.
    send_all(sp.b.get(), "data");
    CHECK(by_fd(wait_for(*p, 100ms)) == std::map<int, std::uint32_t>{{sp.a.get(), EVENT_READ}});
    REQUIRE(::recv(sp.a.get(), buf, sizeof buf, 0) == 4);
    CHECK(wait_for(*p, 0ns).empty());
}

TEST_CASE("close right after remove() closes the file: the peer reads EOF") {
    // io_uring's poll requests hold a reference to the file; remove() must drop it before it
    // returns, or the socket outlives the close() and its peer never sees EOF.
    constexpr int kPairs = 50;
    auto p = make();
    std::vector<SocketPair> pairs;
    for (int i = 0; i < kPairs; ++i) {
        pairs.push_back(socket_pair());
        p->add(pairs.back().a.get(), i % 2 ? EVENT_READ : kBoth);
        if (i % 3 == 0) send_all(pairs.back().b.get(), "x");
    }
    wait_for(*p, 0ns, kPairs);  // arms every registration; a third of them report READ
    char c;
    for (int i = 0; i < kPairs; ++i) {
        INFO("pair ", i);
        // Unread data would make the close a reset (ECONNRESET) rather than an EOF.
        if (i % 3 == 0) REQUIRE(::recv(pairs[i].a.get(), &c, 1, 0) == 1);
        p->remove(pairs[i].a.get());
        pairs[i].a.reset();
        errno = 0;
        CHECK(::recv(pairs[i].b.get(), &c, 1, 0) == 0);  // EOF, not EAGAIN
        CHECK(errno == 0);
    }

    // The wrong order, closed then removed: the file is closed at the latest by remove().
    SocketPair late = socket_pair();
    const int number = late.a.get();
    p->add(number, EVENT_READ);
    wait_for(*p, 0ns);
    late.a.reset();
    p->remove(number);
    CHECK(::recv(late.b.get(), &c, 1, 0) == 0);
    CHECK(wait_for(*p, 0ns).empty());
}

TEST_CASE("a poller destroyed with fds registered lets go of them: a close after it is EOF for the peer") {
    // io_uring tears a closed ring down later, in a kernel worker; until then its poll
    // requests would keep the files open.
    SocketPair sp = socket_pair();
    {
        auto p = make();
        p->add(sp.a.get(), kBoth);
        CHECK(!wait_for(*p, 0ns).empty());
    }
    REQUIRE(fd_is_open(sp.a.get()));  // not closed by the poller
    sp.a.reset();
    char c;
    errno = 0;
    CHECK(::recv(sp.b.get(), &c, 1, 0) == 0);
    CHECK(errno == 0);
}

TEST_CASE("11000 fds ready at once are all reported across waits, none twice in one wait") {
    // The material's 11000 connections, all writable, with room for 1000 a wait: a fair
    // backend reports every fd within 11 waits (epoll rotates its ready list, poll and select
    // their scan start, io_uring the fds reported longest ago).
    constexpr std::size_t kFds = 11000, kRoom = 1000, kWaits = (kFds + kRoom - 1) / kRoom;
    FdLimitGuard restore_limit;
    const rlim_t limit = iomux::test::raise_fd_limit();
    REQUIRE_MESSAGE(limit >= kFds + 64, fmt::format("RLIMIT_NOFILE hard limit {} is too low", limit));
    std::vector<SocketPair> pairs;
    pairs.reserve(kFds / 2);
    auto p = make();
    for (std::size_t i = 0; i < kFds / 2; ++i) {
        pairs.push_back(socket_pair());
        p->add(pairs.back().a.get(), EVENT_WRITE);
        p->add(pairs.back().b.get(), EVENT_WRITE);
    }
    std::set<int> seen;
    std::size_t entries = 0;
    for (std::size_t w = 0; w < kWaits; ++w) {
        const auto got = wait_for(*p, 1s, kRoom);  // checks: no fd twice, no stray bits
        if (!p->edge_triggered()) CHECK(got.size() == kRoom);  // all stay ready
        for (const PollEvent& e : got) {
            CHECK(e.events == EVENT_WRITE);
            seen.insert(e.fd);
        }
        entries += got.size();
    }
    CHECK(seen.size() == kFds);
    if (p->edge_triggered()) {
        CHECK(entries == kFds);
        CHECK(wait_for(*p, 0ns).empty());
    }
}

TEST_CASE("Wakeup::exclusive: an fd reports, modifies and removes as with Wakeup::all") {
    SocketPair sp = socket_pair();
    auto p = make();
    send_all(sp.b.get(), "x");
    p->add(sp.a.get(), EVENT_READ, iomux::Wakeup::exclusive);
    CHECK(by_fd(wait_for(*p, 100ms)) == std::map<int, std::uint32_t>{{sp.a.get(), EVENT_READ}});
    CHECK(errno_thrown([&] { p->add(sp.a.get(), EVENT_READ, iomux::Wakeup::exclusive); }) == EEXIST);
    // epoll refuses EPOLL_CTL_MOD here (EINVAL): the backend removes and adds instead.
    p->modify(sp.a.get(), kBoth);
    CHECK(by_fd(wait_for(*p, 100ms)) == std::map<int, std::uint32_t>{{sp.a.get(), kBoth}});
    p->rearm(sp.a.get(), EVENT_WRITE);
    CHECK(by_fd(wait_for(*p, 100ms)) == std::map<int, std::uint32_t>{{sp.a.get(), EVENT_WRITE}});
    p->remove(sp.a.get());
    CHECK(wait_for(*p, 0ns).empty());
    // Removed means forgotten, exclusivity too: a plain add and modify are plain again.
    p->add(sp.a.get(), EVENT_READ);
    p->modify(sp.a.get(), kBoth);
    CHECK(by_fd(wait_for(*p, 100ms)) == std::map<int, std::uint32_t>{{sp.a.get(), kBoth}});
}

TEST_CASE("Wakeup::exclusive wakes one of two Pollers waiting on one file, on epoll; Wakeup::all both") {
    const std::string name = iomux::test::backend();
    const bool has_exclusive = name == "epoll" || name == "epoll-et";
    CHECK(pollers_woken(iomux::Wakeup::all) == 2);
    CHECK(pollers_woken(iomux::Wakeup::exclusive) == (has_exclusive ? 1 : 2));
}

TEST_CASE("a Poller waited on by one thread, then by another: io_uring is bound to the first") {
    // io_uring's ring defers wake-ups to the waiting thread (DEFER_TASKRUN, Linux 6.1),
    // which binds it to that thread; the other backends do not care which thread waits.
    SocketPair sp = socket_pair();
    auto p = make();
    p->add(sp.a.get(), EVENT_READ);
    send_all(sp.b.get(), "x");
    std::size_t first = 0;
    std::thread([&] {
        std::vector<PollEvent> out(4);
        first = p->wait(out, 1s);
    }).join();
    CHECK(first == 1);
    std::vector<PollEvent> out(4);
    if (iomux::test::backend() == "io_uring") {
        utsname u{};
        REQUIRE(::uname(&u) == 0);
        int major = 0, minor = 0;
        std::sscanf(u.release, "%d.%d", &major, &minor);
        const bool deferred = major > 6 || (major == 6 && minor >= 1);
        CHECK(errno_thrown([&] { p->wait(out, 0ns); }) == (deferred ? EEXIST : 0));
    } else {
        CHECK(p->wait(out, 0ns) == (p->edge_triggered() ? 0u : 1u));  // still unread: level-triggered says so again
    }
}

TEST_CASE("io_uring refused by the kernel is a system_error that names the reason") {
    // A seccomp filter in a forked child makes io_uring_setup fail with EPERM, as the sysctl
    // kernel.io_uring_disabled=2 does. The backend stays in backend_names() (the build has it)
    // and leaves available_backends().
    const auto names = iomux::backend_names();
    if (std::find(names.begin(), names.end(), "io_uring") == names.end()) {
        MESSAGE("this build has no io_uring backend");
        return;
    }
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) ::_exit(io_uring_refused_check());
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    if (WEXITSTATUS(status) == kNoFilter) {
        MESSAGE("no seccomp filter for this architecture: not checked");
        return;
    }
    CHECK(WEXITSTATUS(status) == 0);  // else the number of the check in io_uring_refused_check()
}

}  // TEST_SUITE
